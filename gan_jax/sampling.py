"""The public generation API: `load(workdir)` and `sample(params, key, n=...)`.

`load` reads only the generator part of the latest checkpoint (neither D nor the
optimiser state nor the dataset is needed). The `Generator` it returns is a pytree of
arrays that carries its config (and, for a progressive model, its stage) as static data,
so `sample` needs no other argument and is jit-compiled once per (config, stage, n).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from gan_jax import checkpoint, files, midi
from gan_jax import config as config_lib
from gan_jax import state as state_lib
from gan_jax.models import PRECISIONS, get_model, make_nets


@flax.struct.dataclass
class Generator:
    params: Any                    # G's parameters (the EMA ones when the run keeps an EMA)
    state: Any                     # G's other variables (batch-norm statistics), {} if none
    stats: Any                     # dataset statistics (SpecGAN's moments, GANSynth's pitch counts)
    config: config_lib.Config = flax.struct.field(pytree_node=False)
    alpha: Any = 1.0               # progressive models: fade-in weight of the newest block
    stage: int | None = flax.struct.field(pytree_node=False, default=None)


def make_generator(cfg: config_lib.Config, item: dict, stats, step: int) -> Generator:
    """A Generator from a checkpoint's generator item, at the stage of G step `step`."""
    stage, alpha = state_lib.progress_at(cfg, step)
    return Generator(params=item["params"], state=item["state"],
                     stats=jax.tree.map(jnp.asarray, stats), config=cfg,
                     alpha=jnp.float32(alpha), stage=stage)


def load(workdir, step: int | None = None) -> tuple[Generator, config_lib.Config]:
    """The generator of the run in `workdir` at `step` (default: the latest checkpoint).

    Raises FileNotFoundError (no run, no such checkpoint) or ValueError (a checkpoint that
    cannot be read), each naming the path.
    """
    workdir = files.user_path(workdir)
    path = workdir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file -- is {workdir} a gan_jax run directory?")
    cfg = config_lib.load_json(path)
    ckpt_dir = workdir / "checkpoints"
    if not ckpt_dir.is_dir():
        raise FileNotFoundError(f"{ckpt_dir}: no checkpoint yet -- train first")
    with checkpoint.Checkpoints(ckpt_dir, read_only=True) as ckpts:
        steps = ckpts.all_steps()
        if not steps:
            raise FileNotFoundError(f"{ckpt_dir}: no checkpoint yet -- train first")
        step = max(steps) if step is None else step
        if step not in steps:
            raise FileNotFoundError(f"{ckpt_dir}/{step}: no such checkpoint; there are steps "
                                    f"{', '.join(map(str, sorted(steps)))}")
        # Restore onto this process's first device, whatever mesh or hosts the run trained on.
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        abstract = jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device),
            state_lib.generator_shapes(cfg))
        try:
            gen, meta = ckpts.restore_generator(step, abstract)
        except (OSError, ValueError) as e:
            raise ValueError(f"{ckpt_dir}/{step}: cannot be read ({e})") from e
    cfg = config_lib.from_dict(meta["config"], source=f"{ckpt_dir}/{step}")
    stats = state_lib.stats_from_json(meta.get("stats"))
    return make_generator(cfg, gen, stats, step), cfg


def check_truncation(truncation: float) -> None:
    if not 0.0 < truncation <= 1.0:
        raise ValueError(f"truncation must be in (0, 1], got {truncation}")


def with_truncation(gen: Generator, truncation: float) -> Generator:
    """`gen` scaling the latents it draws by `truncation` (in (0, 1]; see Config.truncation)."""
    check_truncation(truncation)
    return gen.replace(config=dataclasses.replace(gen.config, truncation=float(truncation)))


def with_precision(gen: Generator, precision: str) -> Generator:
    """`gen` generating with compute dtype `precision` ("f32" or "bf16"; see models.Nets)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    cfg = gen.config
    train = dataclasses.replace(cfg.train, precision=precision)
    return gen.replace(config=dataclasses.replace(cfg, train=train))


@functools.partial(jax.jit, static_argnames=("n",))
def _sample(gen: Generator, key, n: int, z=None, labels=None):
    cfg = gen.config
    nets = make_nets(cfg.model_name, cfg.model, gen.stage, cfg.train.precision)
    z_drawn, labels_drawn = nets.inputs(key, n, gen.stats)
    z = z_drawn * cfg.truncation if z is None else z
    labels = labels_drawn if labels is None else labels
    x, _ = nets.generate(gen.params, gen.state, z, labels, gen.alpha)
    audio = jnp.clip(nets.model.decode(cfg.model, x, gen.stats), -1.0, 1.0).astype(jnp.float32)
    return (audio[..., 0] if audio.shape[-1] == 1 else audio), x


def _per_clip(name: str, value, n: int) -> np.ndarray:
    """One integer or one per clip (n), as an array; anything else is refused by name."""
    value = np.asarray(value)
    if value.ndim > 1 or (value.ndim == 1 and value.shape[0] != n):
        raise ValueError(f"{name} must be one value or one per clip ({n}), got shape {value.shape}")
    if not np.issubdtype(value.dtype, np.integer):
        raise ValueError(f"{name} must be integers, got {value.dtype}")
    return value


def pitch_labels(cfg: config_lib.Config, pitch, n: int):
    """MIDI pitch(es) -> class labels [n] of a pitch-conditioned model, checked against its range."""
    pitch_range = get_model(cfg.model_name).pitch_range
    if pitch_range is None:
        raise ValueError(f"{cfg.model_name} is not pitch-conditioned; pitch needs GANSynth")
    low, high = pitch_range(cfg.model)
    pitch = _per_clip("pitch (MIDI)", pitch, n)
    bad = pitch[(pitch < low) | (pitch > high)]
    if bad.size:
        raise ValueError(f"pitch {int(bad.flat[0])} is outside the model's range {low}..{high}")
    return jnp.broadcast_to(jnp.asarray(pitch - low, jnp.int32), (n,))


def class_labels(cfg: config_lib.Config, label, n: int):
    """Class label(s) -> labels [n] of a class-conditional WaveGAN/SpecGAN (model.num_classes)."""
    model = get_model(cfg.model_name)
    k = model.num_classes(cfg.model)
    if model.pitch_range is not None:
        raise ValueError(f"{cfg.model_name} is conditioned on pitch, not on a class label; "
                         "use pitch")
    if not k:
        raise ValueError(f"this {cfg.model_name} run is not class-conditional (model.num_classes "
                         "is 0); label needs one that is")
    label = _per_clip("label", label, n)
    bad = label[(label < 0) | (label >= k)]
    if bad.size:
        raise ValueError(f"label {int(bad.flat[0])} is outside the model's classes 0..{k - 1}")
    return jnp.broadcast_to(jnp.asarray(label, jnp.int32), (n,))


def sample(params: Generator, key, n: int | None = None, *, pitch=None, label=None,
           latents=None, return_spectrogram: bool = False, precision: str | None = None,
           truncation: float | None = None):
    """n clips as float32 audio in [-1, 1]: [n, T] for mono models, [n, T, C] otherwise.

    pitch: pitch-conditioned models (GANSynth): a MIDI pitch for every clip or one per clip;
      by default pitches are drawn from the training set's pitch histogram.
    label: class-conditional WaveGAN/SpecGAN (`model.num_classes`): a class (e.g. the digit
      of an FSDD model) for every clip or one per clip; by default drawn uniformly.
    latents: explicit latent vectors [n, latent_dim] (interpolations, a fixed timbre);
      by default drawn from `key`. n defaults to their number, else to 1.
    return_spectrogram: spectrogram models (SpecGAN, GANSynth) return `(audio, spec)`,
      spec being G's normalised output [n, time, freq] in [-1, 1] (GANSynth: the
      log-magnitude channel).
    precision: G's compute dtype, "f32" or "bf16" (default: the run's train.precision);
      the audio is float32 either way.
    truncation: drawn latents are scaled by this, in (0, 1] (default: the run's
      `truncation`; 1 = off): clearer, more typical clips, less variety. Not applied to
      explicit latents.
    """
    cfg = params.config
    if latents is not None:
        latents = jnp.asarray(latents, jnp.float32)
        want = jax.eval_shape(lambda k: get_model(cfg.model_name).sample_latent(cfg.model, k, 1),
                              key).shape
        if latents.ndim != len(want) or latents.shape[1:] != want[1:]:
            raise ValueError(f"latents must have shape [n, {', '.join(map(str, want[1:]))}], "
                             f"got {list(latents.shape)}")
        if n is not None and n != latents.shape[0]:
            raise ValueError(f"n={n} but {latents.shape[0]} latent vectors were given")
        n = latents.shape[0]
    n = 1 if n is None else n
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if pitch is not None and label is not None:
        raise ValueError("give pitch or label, not both")
    labels = (pitch_labels(cfg, pitch, n) if pitch is not None
              else None if label is None else class_labels(cfg, label, n))
    if return_spectrogram and not get_model(cfg.model_name).spectrogram:
        raise ValueError(f"{cfg.model_name} generates waveforms; "
                         "return_spectrogram needs a spectrogram model")
    if precision is not None:
        params = with_precision(params, precision)
    if truncation is not None:
        params = with_truncation(params, truncation)
    audio, x = _sample(params, key, n=int(n), z=latents, labels=labels)
    return (audio, x[..., 0]) if return_spectrogram else audio


def generate(params: Generator, key, latents, pitch=None, batch: int = 64,
             progress: bool = False, *, label=None) -> np.ndarray:
    """Audio for many latents (and pitches or class labels) in batches of `batch`, as a
    numpy array.

    The last batch is padded to full size, so one compilation serves every batch.
    `pitch` / `label`: None, one value, or one per latent (see `sample`).
    """
    latents = np.asarray(latents, np.float32)
    m = latents.shape[0]
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if pitch is not None:
        pitch = np.broadcast_to(np.asarray(pitch), (m,))
    if label is not None:
        label = np.broadcast_to(np.asarray(label), (m,))
    batch = min(batch, m)
    out = []
    for start in tqdm(range(0, m, batch), disable=not progress, unit="batch", desc="generating"):
        rows = np.arange(start, start + batch) % m   # the padding repeats early rows
        audio = sample(params, jax.random.fold_in(key, start), latents=latents[rows],
                       pitch=None if pitch is None else pitch[rows],
                       label=None if label is None else label[rows])
        out.append(np.asarray(audio)[:min(batch, m - start)])
    return np.concatenate(out)


def random_latents(cfg: config_lib.Config, key, n: int) -> np.ndarray:
    """n latents as the run samples them: drawn as in training, scaled by cfg.truncation."""
    return np.asarray(get_model(cfg.model_name).sample_latent(cfg.model, key, n)) * cfg.truncation


def slerp(z0, z1, t: float) -> np.ndarray:
    """Spherical linear interpolation from z0 (t=0) to z1 (t=1), magenta's `generate_util.slerp`.

    Unit vectors stay unit. (Near-)parallel vectors, where sin(angle) -> 0, fall back to the
    formula's limit, linear interpolation; exactly opposite vectors turn through a fixed
    orthogonal direction (any great circle joins them); zero vectors interpolate linearly.
    """
    z0, z1 = np.asarray(z0), np.asarray(z1)
    dtype = np.result_type(z0, z1, np.float32)
    a, b = z0.astype(np.float64).ravel(), z1.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return ((1 - t) * z0 + t * z1).astype(dtype)
    cos = np.clip(np.dot(a / na, b / nb), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    if sin < 1e-6 and cos > 0:
        out = (1 - t) * a + t * b
    elif sin < 1e-6:
        out = _slerp_opposite(a, na, nb, t)
    else:
        out = np.sin((1 - t) * omega) / sin * a + np.sin(t * omega) / sin * b
    return out.reshape(z0.shape).astype(dtype)


def _slerp_opposite(a: np.ndarray, na: float, nb: float, t: float) -> np.ndarray:
    """Half a great circle from a to -a*(nb/na) through the axis least aligned with a."""
    u = a / na
    axis = np.zeros_like(u)
    axis[np.argmin(np.abs(u))] = 1.0
    q = axis - np.dot(axis, u) * u
    q /= np.linalg.norm(q)
    norm = (1 - t) * na + t * nb
    return norm * (np.cos(np.pi * t) * u + np.sin(np.pi * t) * q)


def interpolation_latents(cfg: config_lib.Config, key, steps: int) -> np.ndarray:
    """`steps` latents along the great circle (slerp) between two random ones: a timbre
    morph when rendered at one pitch (`gansynth.md` §5.3)."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    z0, z1 = random_latents(cfg, key, 2)
    return np.stack([slerp(z0, z1, t) for t in np.linspace(0.0, 1.0, steps)])


def render_midi(params: Generator, notes, key, *, secs_per_instrument: float = 6.0,
                out_of_range: str = "skip", batch: int = 64, progress: bool = False) -> np.ndarray:
    """A MIDI performance rendered note by note, as magenta's gansynth_generate.

    Each note is one generated clip at its pitch; the timbre moves (slerp) between random
    instruments placed every `secs_per_instrument` seconds; notes get the reference's
    envelope (attack, sustain <= 3 s, 0.3 s release), velocity gain, and are mixed at their
    onsets, peak 0.5 (`gan_jax.midi`). Notes outside the model's pitch range are dropped or
    octave-transposed (`out_of_range`), with one warning. Returns float32 mono audio.
    """
    cfg = params.config
    pitch_range = get_model(cfg.model_name).pitch_range
    if pitch_range is None:
        raise ValueError(f"{cfg.model_name} is not pitch-conditioned; MIDI rendering needs GANSynth")
    notes = midi.fit_pitches(notes, *pitch_range(cfg.model), out_of_range)
    if not notes:
        return np.zeros(0, np.float32)
    k_inst, k_gen = jax.random.split(key)
    times = midi.instrument_times(max(n.end for n in notes), secs_per_instrument)
    z = midi.note_latents([n.start for n in notes], times,
                          random_latents(cfg, k_inst, len(times)), slerp)
    audio = generate(params, k_gen, z, [n.pitch for n in notes], batch, progress)
    return midi.render(notes, audio, cfg.data.sample_rate)
