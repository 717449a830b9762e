"""Paths a user gives, and the checks that a run folder can be written.

Every path enters the library through `user_path`: `~` expanded, made absolute against
the working directory and symlinks resolved, once, where a public function first takes
it (orbax, for one, refuses relative paths).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def user_path(path: str | os.PathLike) -> Path:
    """`path` as the user meant it: `~` expanded, absolute, symlinks resolved."""
    return Path(os.path.expanduser(os.fspath(path))).resolve()


def writable_dir(path: Path, what: str = "folder") -> Path:
    """Creates `path` if needed and checks a file can be written in it; OSError naming the
    path and the reason otherwise (a file in the way, a read-only disk, no permission)."""
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path}: is a file, not a {what}; choose another path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        raise type(e)(f"{path}: cannot write the {what} there ({e.strerror or e})") from None
    return path


def replace_atomically(path: Path, write) -> None:
    """`write(tmp)` to a hidden sibling, then renamed onto `path`: readers never see a half
    file, and a failed write leaves neither a half file nor the temporary one."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
