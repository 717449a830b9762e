"""train.py / sample.py as a user runs them: train, Ctrl-C, resume, refuse a changed config, sample."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from conftest import GANSYNTH_TINY, ROOT

TINY = ["model.dim=2", "train.batch_size=4", "train.n_critic=2", "data.embedded_per_class=2",
        "train.log_every=1", "train.sample_every=3", "train.ckpt_every=2"]
# model -> (tiny overrides, a change that alters parameter shapes, samples per clip)
MODELS = {
    "wavegan": (TINY, ("model.dim", "2", "3"), 16384),
    "specgan": (TINY, ("model.dim", "2", "3"), 16384),
    # Stages of 2 steps: the first checkpoint (step 2) is already in stage 1.
    "gansynth": ([f"{k}={v}" for k, v in GANSYNTH_TINY.items()]
                 + ["train.batch_size=8", "data.embedded_per_class=1", "train.log_every=1",
                    "train.sample_every=3", "train.ckpt_every=2"],
                 ("model.fmap_max", "8", "4"), 320),
}


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    env["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"   # tiny model: compile time dominates
    return env


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def _steps(workdir):
    d = workdir / "checkpoints"
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.exists() else []


@pytest.mark.parametrize("model", list(MODELS))
def test_train_interrupt_resume_sample(tmp_path, model):
    tiny, (changed_key, old_value, new_value), length = MODELS[model]
    changed = f"{changed_key}={new_value}"
    workdir = tmp_path / "run"
    cmd = [sys.executable, "train.py", "--model", model, "--workdir", str(workdir),
           "--steps", "100000", "--no-progress", *tiny]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while not _steps(workdir) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert _steps(workdir), "no checkpoint appeared"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    if model == "gansynth":   # a new stage: compiled once, logged once
        assert out.count("stage 1") == 1 and "step 2: stage 1" in out, out
    stopped = int(out.split("stopped at step ")[1].split(";")[0])
    assert _steps(workdir)[-1] == stopped >= 2          # the interrupted step was checkpointed
    assert not list((workdir / "checkpoints").glob("*tmp*"))   # nothing half-written

    r = _run("train.py", "--model", model, "--workdir", str(workdir), "--steps", str(stopped + 2),
             "--no-progress", *tiny)
    assert r.returncode == 0, r.stderr
    assert f"resumed {workdir} at step {stopped}" in r.stderr
    assert _steps(workdir)[-1] == stopped + 2
    assert (workdir / "tb").is_dir() and (workdir / "config.json").is_file()

    # A changed config is refused, with one line naming the file and the keys; nothing is touched.
    before = (workdir / "config.json").read_text()
    r = _run("train.py", "--model", model, "--workdir", str(workdir), *tiny, changed)
    assert r.returncode == 2
    assert "config.json" in r.stderr and f"{changed_key}: {old_value} -> {new_value}" in r.stderr
    assert "Traceback" not in r.stderr
    assert (workdir / "config.json").read_text() == before
    # Forcing it cannot restore a checkpoint of another shape: a clear error, the run intact.
    r = _run("train.py", "--model", model, "--workdir", str(workdir), "--allow-config-change",
             *tiny, changed)
    assert r.returncode == 2 and f"does not fit this config ({changed_key} changed)" in r.stderr
    assert "Traceback" not in r.stderr
    assert (workdir / "config.json").read_text() == before

    out_dir = tmp_path / "wavs"
    r = _run("sample.py", "--workdir", str(workdir), "--n", "3", "--out", str(out_dir))
    assert r.returncode == 0, r.stderr
    files = sorted(out_dir.glob("*.wav"))
    assert len(files) == 3
    audio, sr = sf.read(files[0], dtype="float32")
    assert sr == 16000 and audio.shape == (length,)
    assert np.abs(audio).max() <= 1.0 and np.abs(audio).max() > 0
    r = _run("sample.py", "--workdir", str(workdir), "--n", "3", "--out", str(out_dir))
    assert r.returncode == 2 and "exists" in r.stderr         # no silent overwrite
    if model == "gansynth":
        _gansynth_sampling(workdir, tmp_path)
    else:
        r = _run("sample.py", "--workdir", str(workdir), "--pitch", "60")
        assert r.returncode == 2 and f"{model} is not pitch-conditioned" in r.stderr


def _gansynth_sampling(workdir, tmp_path):
    """sample.py's pitch grid, timbre morph and MIDI rendering on a tiny run (MIDI 60-63)."""
    from gan_jax import midi

    r = _run("sample.py", "--workdir", str(workdir), "--pitch", "C4,63", "--n", "2",
             "--out", str(tmp_path / "grid"))
    assert r.returncode == 0, r.stderr
    names = sorted(f.name for f in (tmp_path / "grid").iterdir())
    assert names == ["sample_0000_p60.wav", "sample_0000_p63.wav", "sample_0001_p60.wav",
                     "sample_0001_p63.wav"]
    r = _run("sample.py", "--workdir", str(workdir), "--interpolate", "3", "--pitch", "61",
             "--out", str(tmp_path / "morph"))
    assert r.returncode == 0, r.stderr
    morph = [sf.read(tmp_path / "morph" / f"interp_{i:04d}_p61.wav")[0] for i in range(3)]
    assert not np.allclose(morph[0], morph[2])

    song = midi.write_midi(tmp_path / "song.mid", [
        midi.Note(0.0, 0.5, 60, 100), midi.Note(0.5, 1.0, 62, 100), midi.Note(0.5, 1.0, 90, 100)])
    r = _run("sample.py", "--workdir", str(workdir), "--midi", str(song),
             "--out", str(tmp_path / "song.wav"))
    assert r.returncode == 0, r.stderr
    assert "warning: 1 of 3 notes outside pitch range 60-63 were dropped" in r.stderr
    audio, sr = sf.read(tmp_path / "song.wav", dtype="float32")
    assert sr == 16000 and audio.shape == (8000 + 320,)      # last onset 0.5 s + one 320-sample note
    assert np.abs(audio).max() == pytest.approx(0.5, abs=1e-3)

    r = _run("sample.py", "--workdir", str(workdir), "--pitch", "90")
    assert r.returncode == 2 and "pitch 90 is outside the model's range 60..63" in r.stderr
    r = _run("sample.py", "--workdir", str(workdir), "--pitch", "H4")
    assert r.returncode == 2 and "'H4' is neither a MIDI number" in r.stderr
    (tmp_path / "bad.mid").write_bytes(b"MThd junk")
    r = _run("sample.py", "--workdir", str(workdir), "--midi", str(tmp_path / "bad.mid"),
             "--out", str(tmp_path / "bad.wav"))
    assert r.returncode == 2 and "bad.mid" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "bad.wav").exists()


def test_cli_errors_are_one_line(tmp_path):
    r = _run("train.py", "--model", "wavegan", "--workdir", str(tmp_path / "a"), "model.nope=1")
    assert r.returncode == 2 and "unknown config key 'model.nope'" in r.stderr
    assert "Traceback" not in r.stderr
    r = _run("train.py", "--model", "wavegan", "--workdir", str(tmp_path / "b"),
             "--data", str(tmp_path / "missing"), *TINY)
    assert r.returncode == 2 and "missing" in r.stderr and "Traceback" not in r.stderr
    r = _run("sample.py", "--workdir", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "config.json" in r.stderr
