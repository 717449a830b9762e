"""User paths (relative, ~, symlinks, spaces) and the run-folder writability check."""

import os

import pytest

from gan_jax import files


def test_user_path_resolves_relative_home_and_symlinks(tmp_path, monkeypatch):
    home, work = tmp_path / "my home", tmp_path / "work dir"
    (home / "runs").mkdir(parents=True)
    work.mkdir()
    (work / "link to runs").symlink_to(home / "runs")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert files.user_path("~/runs/a") == home / "runs" / "a"
    assert files.user_path("runs/b") == work / "runs" / "b"
    assert files.user_path("link to runs/c") == home / "runs" / "c"
    assert files.user_path(work / ".." / "work dir") == work
    assert files.user_path("x").is_absolute()


def test_writable_dir_creates_and_refuses_clearly(tmp_path):
    made = files.writable_dir(tmp_path / "new" / "run", "run folder")
    assert made.is_dir() and not os.listdir(made)          # the probe file is gone
    (tmp_path / "a file").write_text("x")
    with pytest.raises(NotADirectoryError, match="a file: is a file, not a run folder"):
        files.writable_dir(tmp_path / "a file", "run folder")
    with pytest.raises(OSError, match="cannot write the run folder there"):
        files.writable_dir(tmp_path / "a file" / "below", "run folder")
    if os.geteuid() != 0:   # root writes through permissions; test_cli uses a read-only mount
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with pytest.raises(PermissionError, match="locked: cannot write the run folder there"):
            files.writable_dir(locked, "run folder")


def test_replace_atomically_leaves_no_half_file(tmp_path):
    target = tmp_path / "a.txt"
    files.replace_atomically(target, lambda tmp: tmp.write_text("whole"))
    assert target.read_text() == "whole" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]

    def half(tmp):
        tmp.write_text("ha")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.replace_atomically(target, half)
    assert target.read_text() == "whole" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
