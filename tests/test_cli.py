"""train.py / sample.py as a user runs them, from a fresh copy of the project.

Every command goes through `uv run` from the copy's root, in a process group of its own,
and stop signals go to the whole group, as a terminal's Ctrl-C and a scheduler's
`timeout -s INT` send them (uv forwards the signal, so Python gets it twice). The README's
commands are run as written: no --workdir, so the default relative `runs/<model>-<preset>/`.
The copy lives in a folder whose name has a space.
"""

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import jax
import numpy as np
import pytest
import soundfile as sf

import configs
from conftest import GANSYNTH_TINY, ROOT, child_env, write_midi
from gan_jax import checkpoint
from gan_jax import config as config_lib
from gan_jax import train as T

TINY = ["model.dim=2", "train.batch_size=4", "train.n_critic=2", "data.embedded_per_class=2",
        "train.log_every=1", "train.sample_every=3", "train.ckpt_every=2"]
# model -> (tiny overrides, a change that alters parameter shapes, samples per clip)
MODELS = {
    "wavegan": (TINY, ("model.dim", "2", "3"), 4096),     # the quick presets at 8 kHz
    "specgan": (TINY, ("model.dim", "2", "3"), 8192),
    # Stages of 2 steps: the first checkpoint (step 2) is already in stage 1. (The quick
    # preset does not grow; progressive here tests resuming across a stage.)
    "gansynth": ([f"{k}={v}" for k, v in GANSYNTH_TINY.items()]
                 + ["model.progressive=true", "train.batch_size=8", "data.embedded_per_class=1", "train.log_every=1",
                    "train.sample_every=3", "train.ckpt_every=2"],
                 ("model.fmap_max", "8", "4"), 320),
}
PROJECT_FILES = ("pyproject.toml", "uv.lock", "README.md", "train.py", "sample.py", "configs",
                 "gan_jax")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project, set up by `uv sync` as the README's first command would."""
    if not _uv():
        pytest.skip("uv is not installed (.ci/run installs it); the README's commands need it")
    root = tmp_path_factory.mktemp("fresh clone")
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, root / name)
    r = subprocess.run([_uv(), "sync", "--quiet"], cwd=root, env=_env(root), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return root


def _uv():
    return os.environ.get("UV") or shutil.which("uv")


def _env(project, **extra):
    env = child_env("VIRTUAL_ENV")   # uv run picks the project's own environment
    # Tiny models: compilation dominates, so compile little and fast (conftest.py's
    # JAX_DISABLE_MOST_OPTIMIZATIONS, kept, and its XLA flags) and only once for all commands.
    env.update(JAX_COMPILATION_CACHE_DIR=str(project / ".jax-cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    return {**env, **extra}


def start(cwd, *args, env=None):
    """`uv run ARGS` in its own process group (its pid is the group's id)."""
    return subprocess.Popen([_uv(), "run", *args], cwd=cwd, env=env or _env(cwd),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def run(cwd, *args, env=None, timeout=300):
    """`uv run ARGS` to the end: (exit code, stdout and stderr together)."""
    proc = start(cwd, *args, env=env)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, out


def steps(workdir) -> list[int]:
    d = Path(workdir) / "checkpoints"
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.exists() else []


def wait_for(proc, condition, what, timeout=240):
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None or time.time() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"{what} never happened:\n{proc.communicate()[0]}")
        time.sleep(0.002)


def stopped_at(out) -> int:
    """The step of train.py's "stopped at step N; ..." line."""
    return int(out.split("stopped at step ")[1].split(";")[0])


def error_lines(out) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("error:")]


def assert_clean(out):
    assert "Traceback" not in out and "Exception" not in out, out


# ---------------------------------------------------------------------------------------------
# The README: train, Ctrl-C, resume, sample, with the default relative run folder


@pytest.mark.parametrize("model", list(MODELS))
def test_readme_train_ctrl_c_resume_sample(project, model):
    tiny, (changed_key, old_value, new_value), length = MODELS[model]
    preset, _ = configs.get_config(model, "auto")
    name = f"runs/{model}-{preset}"
    workdir = project / name
    shutil.rmtree(project / "runs", ignore_errors=True)

    proc = start(project, "train.py", "--model", model, *tiny)
    wait_for(proc, lambda: steps(workdir), "a first checkpoint")
    time.sleep(0.5)
    # One stop request, delivered four times within a second: twice to the group, which uv
    # forwards as well. It saves once and exits 130.
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.4)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert_clean(out)
    # Saved once -- or not at all when the stop lands on a step just checkpointed (ckpt_every 2).
    saves = out.count("saving a checkpoint")
    assert saves == 1 or (saves == 0 and stopped_at(out) % 2 == 0), out
    if model == "gansynth":   # a new stage: compiled once, logged once
        assert out.count("stage 1") == 1 and "step 2: stage 1" in out, out
    stopped = stopped_at(out)
    assert steps(workdir)[-1] == stopped >= 2          # the interrupted step was checkpointed
    assert not list((workdir / "checkpoints").glob("*tmp*"))   # nothing half-written

    code, out = run(project, "train.py", "--model", model, *tiny, "--steps", str(stopped + 2))
    assert code == 0, out
    assert f"resumed {workdir} at step {stopped}" in out
    assert steps(workdir)[-1] == stopped + 2
    assert (workdir / "tb").is_dir() and (workdir / "config.json").is_file()

    # A changed config is refused, with one line naming the file and the keys; nothing is touched.
    before = (workdir / "config.json").read_text()
    code, out = run(project, "train.py", "--model", model, *tiny, f"{changed_key}={new_value}")
    assert code == 2
    assert "config.json" in out and f"{changed_key}: {old_value} -> {new_value}" in out
    assert_clean(out)
    assert (workdir / "config.json").read_text() == before
    # Forcing it cannot restore a checkpoint of another shape: a clear error, the run intact.
    code, out = run(project, "train.py", "--model", model, "--allow-config-change", *tiny,
                    f"{changed_key}={new_value}")
    assert code == 2 and f"does not fit this config ({changed_key} changed)" in out
    assert_clean(out)
    assert (workdir / "config.json").read_text() == before

    code, out = run(project, "sample.py", "--workdir", name, "--n", "3")
    assert code == 0, out
    files = sorted((workdir / "samples").glob("*.wav"))
    assert len(files) == 3
    audio, sr = sf.read(files[0], dtype="float32")
    assert sr == 8000 and audio.shape == (length,)
    assert np.abs(audio).max() <= 1.0 and np.abs(audio).max() > 0
    code, out = run(project, "sample.py", "--workdir", name, "--n", "3")
    assert code == 2 and "exists" in out                     # no silent overwrite
    if model == "gansynth":
        _gansynth_sampling(project, name)
    else:
        code, out = run(project, "sample.py", "--workdir", name, "--pitch", "60")
        assert code == 2 and f"{model} is not pitch-conditioned" in out


def _gansynth_sampling(project, name):
    """sample.py's pitch grid, timbre morph and MIDI rendering on a tiny run (MIDI 60-63),
    with relative output paths."""
    from gan_jax import midi

    code, out = run(project, "sample.py", "--workdir", name, "--pitch", "C4,63", "--n", "2",
                    "--out", "grid")
    assert code == 0, out
    names = sorted(f.name for f in (project / "grid").iterdir())
    assert names == ["sample_0000_p60.wav", "sample_0000_p63.wav", "sample_0001_p60.wav",
                     "sample_0001_p63.wav"]
    code, out = run(project, "sample.py", "--workdir", name, "--interpolate", "3", "--pitch", "61",
                    "--out", "morph")
    assert code == 0, out
    morph = [sf.read(project / "morph" / f"interp_{i:04d}_p61.wav")[0] for i in range(3)]
    assert not np.allclose(morph[0], morph[2])

    write_midi(project / "my song.mid", [
        midi.Note(0.0, 0.5, 60, 100), midi.Note(0.5, 1.0, 62, 100), midi.Note(0.5, 1.0, 90, 100)])
    code, out = run(project, "sample.py", "--workdir", name, "--midi", "my song.mid",
                    "--out", "my song.wav")
    assert code == 0, out
    assert "warning: 1 of 3 notes outside pitch range 60-63 were dropped" in out
    audio, sr = sf.read(project / "my song.wav", dtype="float32")
    assert sr == 8000 and audio.shape == (4000 + 320,)      # last onset 0.5 s + one 320-sample note
    assert np.abs(audio).max() == pytest.approx(0.5, abs=1e-3)

    code, out = run(project, "sample.py", "--workdir", name, "--pitch", "90")
    assert code == 2 and "pitch 90 is outside the model's range 60..63" in out
    code, out = run(project, "sample.py", "--workdir", name, "--pitch", "H4")
    assert code == 2 and "'H4' is neither a MIDI number" in out
    (project / "bad.mid").write_bytes(b"MThd junk")
    code, out = run(project, "sample.py", "--workdir", name, "--midi", "bad.mid", "--out", "bad.wav")
    assert code == 2 and "bad.mid" in out
    assert_clean(out)
    assert not (project / "bad.wav").exists()


def test_ctrl_c_during_start_up_and_compilation(project):
    """Before training (imports, data): exit 130 at once, nothing saved. During the first
    compilation (or, with a warm compilation cache, the first steps): the step finishes, is
    saved, and the run exits 130."""
    shutil.rmtree(project / "runs", ignore_errors=True)
    proc = start(project, "train.py", "--model", "wavegan", "--workdir", "runs/early", *TINY)
    time.sleep(1.0)                                   # importing JAX
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "interrupted before training started: nothing to save" in out
    assert_clean(out)
    assert not steps(project / "runs" / "early")

    workdir = project / "runs" / "compiling"
    # model.dim=6: a config no other test compiled, so the compilation cache cannot skip it.
    proc = start(project, "train.py", "--model", "wavegan", "--workdir", "runs/compiling", *TINY,
                 "model.dim=6", "--no-progress")
    # config.json is written last before the loop, which then compiles the step for seconds.
    wait_for(proc, lambda: (workdir / "config.json").exists(), "the end of set-up")
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert_clean(out)
    stopped = stopped_at(out)
    assert stopped >= 1 and steps(workdir)[-1] == stopped
    assert out.count("saving a checkpoint") == (stopped % 2)   # TINY saves even steps itself


# ---------------------------------------------------------------------------------------------
# Crash safety: SIGKILL at any moment loses at most the steps since the last checkpoint


def _final_state(workdir):
    """The newest checkpoint's full train state, as numpy arrays."""
    cfg = config_lib.load_json(Path(workdir) / "config.json")
    with checkpoint.Checkpoints(Path(workdir) / "checkpoints") as ckpts:
        state, _ = ckpts.restore(ckpts.latest_step(),
                                 T.abstract_state(cfg, T.make_mesh(jax.devices()[:1])))
    return jax.device_get((state.g_params, state.d_params, state.g_opt, state.d_opt))


def test_sigkill_anywhere_then_resume_equals_an_uninterrupted_run(project, tmp_path):
    # `~` in --workdir, expanded by gan_jax (no shell here), under a HOME with a space.
    home = tmp_path / "my home"
    env = _env(project, HOME=str(home))
    args = ["train.py", "--model", "wavegan", *TINY, "train.ckpt_every=1", "train.sample_every=4",
            "--steps", "12", "--no-progress"]
    straight = start(project, *args, "--workdir", "~/straight", env=env)   # alongside the rest
    killed = home / "killed"

    # 1. SIGKILL while a checkpoint is being written (its temporary folder exists), after
    #    at least one complete one.
    proc = start(project, *args, "--workdir", "~/killed", env=env)
    writing = lambda: any("tmp" in p.name for p in (killed / "checkpoints").glob("*"))
    wait_for(proc, lambda: steps(killed) and writing(), "a checkpoint write")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    done = steps(killed)
    assert writing() and 1 <= len(done) and done[-1] < 12   # the one being written is not listed

    # 2. Resume from the newest complete checkpoint, and SIGKILL at a random moment.
    moment = random.Random().uniform(0.0, 2.0)
    proc = start(project, *args, "--workdir", "~/killed", env=env)
    wait_for(proc, lambda: steps(killed)[-1] > done[-1], "progress after resuming")
    time.sleep(moment)
    os.killpg(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    assert f"resumed {killed} at step {done[-1]}" in out, out

    # 3. Run to the end: the same parameters and optimiser states, bit for bit.
    resumed_at = steps(killed)[-1]
    code, out = run(project, *args, "--workdir", "~/killed", env=env)
    assert code == 0, out
    assert f"resumed {killed} at step {resumed_at}" in out, out
    assert not list((killed / "checkpoints").glob("*tmp*"))   # leftovers removed
    out, _ = straight.communicate(timeout=300)
    assert straight.returncode == 0, out
    for a, b in zip(jax.tree.leaves(_final_state(home / "straight")),
                    jax.tree.leaves(_final_state(killed)), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"killed after {moment:.2f} s")


# ---------------------------------------------------------------------------------------------
# Divergence: the run stops at the bad step, and the last good checkpoint samples


def test_divergence_stops_at_once_and_keeps_the_last_good_checkpoint(project):
    clips = project / "my clips"     # a relative --data folder with a space in its name
    clips.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        sf.write(clips / f"clip {i}.wav", 0.5 * rng.standard_normal(16384).astype(np.float32),
                 16000)
    # Unlabelled clips need model.num_classes=0: the quick preset is class-conditional.
    code, out = run(project, "train.py", "--model", "wavegan", "--data", "my clips", "--workdir",
                    "runs/diverged", *TINY, "model.num_classes=0", "train.debug_nan_at_step=5",
                    "--steps", "10")
    assert code == 2, out
    assert_clean(out)
    errors = error_lines(out)
    assert len(errors) == 1 and errors[0].startswith("error: step 5: d_loss is nan (and "), out
    assert "checkpoint 4 is the latest" in errors[0]
    workdir = project / "runs" / "diverged"
    assert steps(workdir) == [2, 4]
    assert '"path": "' + str(clips) + '"' in (workdir / "config.json").read_text()

    # Sampled through a symlink to the run, as a user's "latest" link would be.
    link = project / "latest run"
    link.unlink(missing_ok=True)
    link.symlink_to(workdir)
    code, out = run(project, "sample.py", "--workdir", "latest run", "--n", "2")
    assert code == 0, out
    audio, _ = sf.read(workdir / "samples" / "sample_0000.wav", dtype="float32")
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0


# ---------------------------------------------------------------------------------------------
# Folders that cannot be written, and a disk that fills


def test_a_file_where_the_run_folder_should_be(project):
    (project / "not a folder").write_text("mine")
    code, out = run(project, "train.py", "--model", "wavegan", "--workdir", "not a folder", *TINY)
    assert code == 2 and "not a folder: is a file, not a run folder" in out, out
    assert_clean(out)
    assert (project / "not a folder").read_text() == "mine"


@pytest.fixture
def small_disk(tmp_path):
    """A folder on its own 24 MB filesystem (tmpfs; mounting needs root), unmounted after."""
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip()})")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_read_only_run_folder_fails_before_training(project, small_disk):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    code, out = run(project, "train.py", "--model", "wavegan", "--workdir",
                    str(small_disk / "run"), *TINY)
    assert code == 2 and f"{small_disk / 'run'}: cannot write the run folder there" in out, out
    assert "data:" not in out       # before any data is loaded
    assert_clean(out)


def test_disk_full_during_a_save_keeps_the_earlier_checkpoints(project, small_disk):
    workdir = small_disk / "run"
    proc = start(project, "train.py", "--model", "wavegan", "--workdir", str(workdir), *TINY,
                 "train.ckpt_every=1", "train.sample_every=1000", "--steps", "1000")
    wait_for(proc, lambda: len(steps(workdir)) >= 2, "two checkpoints")
    with open(small_disk / "filler", "wb", buffering=0) as f:   # the disk fills up
        try:
            while True:
                f.write(b"\0" * (1 << 16))
        except OSError:
            pass
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, out
    assert_clean(out)
    # Found full before the write (the usual case) or during it: one line either way.
    errors = error_lines(out)
    assert len(errors) == 1 and "cannot save checkpoint" in errors[0], out
    assert any(why in errors[0] for why in ("no space left", "No space left")), out
    assert f"the earlier checkpoints are intact (checkpoint {steps(workdir)[-1]} is the latest)" \
        in out
    (small_disk / "filler").unlink()
    kept = steps(workdir)
    assert kept and not list((workdir / "checkpoints").glob("*tmp*"))
    code, out = run(project, "sample.py", "--workdir", str(workdir), "--n", "1")
    assert code == 0, out


# ---------------------------------------------------------------------------------------------
# One-line errors


def test_cli_errors_are_one_line(project, tmp_path):
    code, out = run(project, "train.py", "--model", "wavegan", "--workdir", str(tmp_path / "a"),
                    "model.nope=1")
    assert code == 2 and "unknown config key 'model.nope'" in out
    assert_clean(out)
    code, out = run(project, "train.py", "--model", "wavegan", "--workdir", str(tmp_path / "b"),
                    "--data", str(tmp_path / "missing"), *TINY)
    assert code == 2 and "missing" in out
    assert_clean(out)
    code, out = run(project, "sample.py", "--workdir", str(tmp_path / "nothing"))
    assert code == 2 and "config.json" in out
    assert_clean(out)
