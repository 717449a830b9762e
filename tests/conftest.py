"""Shared test set-up: 8 simulated CPU devices (before JAX touches a device) and tiny configs."""

import atexit
import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Python may cache compiled modules (PYTHONDONTWRITEBYTECODE, set by some CI images, forbids
# it): without the cache every process the suite starts (~60: the CLIs, the notebook's
# kernel, multihost workers) compiles JAX and Flax from source again, ~2 s of CPU each.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


def _fast_compile_flags(flags: str = "--xla_cpu_use_fusion_emitters=false") -> str:
    """XLA:CPU's fusion emitters take twice as long to compile these tiny programs as the
    older ones (a test_train test: 22 s of compilation against 12 s), and compiling is most
    of the suite's time. `flags` where this jaxlib knows them (an unknown flag aborts XLA),
    else "". Probed once: the processes the suite starts inherit XLA_FLAGS."""
    if flags in os.environ.get("XLA_FLAGS", ""):
        return flags
    code = "import jax; jax.numpy.zeros(1).block_until_ready()"
    probe = subprocess.run([sys.executable, "-c", code], env={**os.environ, "XLA_FLAGS": flags},
                           capture_output=True, timeout=120)
    return flags if probe.returncode == 0 else ""


SUITE_XLA_FLAGS = _fast_compile_flags()
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {SUITE_XLA_FLAGS}".strip()


def child_env(*drop: str) -> dict:
    """The environment of a process a test starts as a user would (a CLI, a host): without
    this suite's simulated devices or a user's XLA_FLAGS, with the suite's compile flags,
    and without the variables in `drop`."""
    drop = ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES", *drop)
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "XLA_FLAGS": SUITE_XLA_FLAGS}

import jax  # noqa: E402
import mido  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # the `configs` package and the CLIs live at the repository root

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")   # catch silent broadcasting
jax.config.update("jax_disable_most_optimizations", True)   # tiny models: compile time dominates
# and for the processes tests start (the CLIs, the notebook's kernel, multihost workers)
os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"
# Every train() call builds its step anew, so the same tiny programs compile again and again:
# a compilation cache for this session (removed at exit) compiles each once.
jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="gan_jax-tests-xla-"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
atexit.register(shutil.rmtree, jax.config.jax_compilation_cache_dir, ignore_errors=True)

import pytest  # noqa: E402

from gan_jax import config as config_lib  # noqa: E402


@contextlib.contextmanager
def xla_optimised():
    """XLA's optimisations on for a fixture that trains (hundreds of steps), not just compiles."""
    jax.config.update("jax_disable_most_optimizations", False)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", True)


# GANSynth at 8x64 (3 resolutions: 5 stages of 16 images = 2 steps at batch 8), widths
# 8, 4, 2, 4 pitch classes; n_fft 128 / hop 32 frames 352 samples, of which 320 are used.
GANSYNTH_TINY = {
    "model.num_resolutions": "3", "model.slice_len": "320", "model.fmap_base": "16",
    "model.fmap_max": "8", "model.pitch_min": "60", "model.pitch_max": "63",
    "model.stable_stage_num_images": "16", "model.transition_stage_num_images": "16",
    "model.total_num_images": "96"}


def tiny_config(model: str = "wavegan", **overrides) -> config_lib.Config:
    """A model small enough to compile and step in seconds on 2 cores."""
    import configs
    _, cfg = configs.get_config(model, "small")
    base = {"model.dim": "2", "train.batch_size": "8", "train.n_critic": "2",
            "data.embedded_per_class": "2", "train.log_every": "1", "train.sample_every": "1000",
            "train.num_samples": "2"}
    if model == "gansynth":
        base = {**base, **GANSYNTH_TINY}
        del base["model.dim"], base["train.n_critic"]
    return config_lib.override_all(cfg, [(k, str(v)) for k, v in {**base, **overrides}.items()])


@pytest.fixture
def data_root():
    """The shared real-data folder, or a skip naming what is missing."""
    root = os.environ.get("GAN_JAX_DATA")
    if not root:
        pytest.skip("GAN_JAX_DATA is unset (CI sets it to ../shared/data)")
    return Path(root)


def cross_entropy(class_logits_BxK, labels_B):
    """Mean softmax cross-entropy, written out: the reference for the AC terms of the step."""
    import jax.numpy as jnp
    logp_BxK = jax.nn.log_softmax(jnp.asarray(class_logits_BxK), axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp_BxK, jnp.asarray(labels_B)[:, None], axis=-1))


def tb_events(logdir):
    """Every TensorBoard Event in `logdir`'s event files (TFRecord framing: length, crc, data, crc)."""
    import struct

    from tensorboardX.proto.event_pb2 import Event
    out = []
    for path in sorted(Path(logdir).glob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            out.append(Event.FromString(data[i + 12:i + 12 + n]))
            i += 12 + n + 4
    return out


def replace(cfg, **sections):
    return dataclasses.replace(cfg, **sections)


def write_midi(path, notes, tempo_bpm: float = 120, ticks_per_beat: int = 480) -> Path:
    """Write `notes` (gan_jax.midi.Note) to `path` as a format-0 MIDI file with one tempo.

    Times are rounded to the nearest tick; a program change precedes every note that has a
    program. At one tick the ends of earlier notes come first, then program changes and
    note-ons, then the ends of zero-length notes, so that first-in-first-out pairing reads
    every note back. mido refuses pitches, channels and programs out of range; velocity 0
    and negative lengths are refused here, as they would read back differently.
    """
    tempo = round(60_000_000 / tempo_bpm)
    ticks_per_second = ticks_per_beat * 1_000_000 / tempo
    timed = []     # (tick, rank at that tick, note index, message)
    for order, note in enumerate(sorted(notes, key=lambda n: (n.start, n.pitch, n.channel, n.end))):
        if not 1 <= note.velocity <= 127 or not 0 <= note.start <= note.end:
            raise ValueError(f"need velocity 1..127 and 0 <= start <= end in {note}")
        on, off = round(note.start * ticks_per_second), round(note.end * ticks_per_second)
        if note.program is not None:
            timed.append((on, 1, order, mido.Message("program_change", channel=note.channel,
                                                     program=note.program)))
        timed.append((on, 1, order, mido.Message("note_on", channel=note.channel, note=note.pitch,
                                                 velocity=note.velocity)))
        timed.append((off, 0 if off > on else 2, order,
                      mido.Message("note_off", channel=note.channel, note=note.pitch, velocity=0)))
    track, last = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo)]), 0
    for tick, _, _, message in sorted(timed, key=lambda m: m[:3]):
        track.append(message.copy(time=tick - last))
        last = tick
    mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat, tracks=[track]).save(path)
    return Path(path)


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory):
    """(classifier folder, held-out clips) of a small classifier trained on the embedded sounds
    (~1 min): real enough that its scores separate real clips from junk. Trained once for all
    xdist workers: the first to take the lock trains it, the others read it."""
    import fcntl

    from gan_jax import classifier, evaluate

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent   # this run's folder, shared by its workers
    out = base / "tiny-classifier"
    with open(base / "tiny-classifier.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.exists():   # save() writes the folder whole or not at all
            settings = {"steps": 200, "junk_per_batch": 24, "batch_size": 48}
            with xla_optimised():
                evaluate.train_and_save(None, out, progress=False, **settings)
    clf = classifier.load_classifier(out)
    _, heldout = evaluate.classifier_data(None, pitch=False, sample_rate=clf.cfg.sample_rate,
                                          slice_len=clf.cfg.slice_len)
    return out, heldout
