"""A small audio classifier in Flax whose outputs judge generated audio (`gan_jax.evaluate`).

Front end: each clip is peak-normalised (level does not matter), then a log-mel
spectrogram (`gan_jax.spectral.mel_spectrogram`), standardised per mel band with the
training set's moments. Net: four 3x3 conv blocks (GroupNorm, ReLU, 2x2 max-pool), a
dense layer whose activations are the *features* (Fréchet distance, NDB, memorisation)
and a linear layer to the class logits.

It is trained to be hard to fool, because a GAN's early output is exactly what fools a
plain classifier (one gave IS ~5 on steady sine tones and on reversed speech):
- augmentation of every real clip: speed change (+-6 %), time shift (+-10 %), gain and a
  light noise floor;
- outlier exposure: each batch also holds junk -- white, pink and brown noise, sweeps,
  steady tones, buzzes, clicks, silence, and training clips time-reversed or
  chunk-shuffled in place -- trained toward the uniform distribution, so nonsense scores
  as "no class" (without the in-place scrambles reversed speech scored IS ~5);
- temperature scaling fitted on held-out clips after training, so probabilities (and so
  the Inception Score) are calibrated rather than over-confident.

A trained classifier is a folder: `classifier.json` (settings, temperature, accuracy,
front-end moments), `features.npz` (training and held-out features, k-means bins) and
`params/` (orbax). No pickle anywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from gan_jax import files, metrics, spectral
from gan_jax.dataset import AudioDataset

log = logging.getLogger(__name__)

KINDS = ("classes", "pitch")
JUNK_TYPES = ("white", "pink", "brown", "sweep", "tone", "buzz", "clicks", "silence",
              "reversed", "shuffled")
NDB_BINS = 50
TOP_DB = 50.0                   # log-mel floor below each clip's loudest cell (`log_mel`)
_FULL_SCALE_POWER = 0.01        # a silent clip's floor is set as if its loudest cell were this * n_fft^2
_FILES = ("classifier.json", "features.npz", "params")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClassifierConfig:
    kind: str = "classes"           # "classes": the dataset's labels; "pitch": MIDI pitch classes
    label_names: tuple[str, ...] = ()
    sample_rate: int = 16000        # audio is resampled to this rate before the front end
    slice_len: int = 16384          # and cut or zero-padded to this many samples
    n_fft: int = 512
    hop_length: int = 512
    n_mels: int = 64
    fmin: float = 20.0
    width: int = 8                  # channels of the first conv block (then x2, x4, x4)
    features: int = 128             # width of the feature layer
    steps: int = 1500
    batch_size: int = 64
    junk_per_batch: int = 32        # outlier-exposure clips added to every batch
    junk_weight: float = 0.5        # weight of their cross-entropy to the uniform distribution
    lr: float = 1e-3
    max_speed_change: float = 0.06  # augmentation: speed (so pitch) x U(1 -+ this); 0 for pitch
    pitch_shift: int = 0            # pitch: each note also resampled by k ~ U{-this..this} semitones,
                                    #   its label moved by k (kept inside the classes); 0 = off
    seed: int = 0

    @property
    def num_classes(self) -> int:
        return len(self.label_names)


def pitch_settings(**kw) -> dict:
    """Front-end settings for pitched notes: finer frequency resolution (2048-point FFT, 128
    mels), so neighbouring semitones land in different bands; at least 16 frames per clip
    (hop 1024 for 4 s notes at 16 kHz, 256 for GANSynth quick's 4096 samples); no speed
    change in the augmentation: +-6 % is +-1 semitone, which would teach it wrong labels (it
    did: 4 % held-out accuracy on nsynth-gm's 61 pitches); instead whole-semitone shifts
    with the label moved along (`shift_pitch`). On nsynth-gm's held-out notes: 67 -> 99 %
    at 4 s, 16 kHz; at 0.5 s, 8 kHz 78 % (hop 1024, no shifts) -> 100 %."""
    slice_len = kw.get("slice_len") or 64000
    return {"slice_len": slice_len, "n_fft": 2048, "hop_length": min(1024, slice_len // 16),
            "n_mels": 128, "max_speed_change": 0.0, "pitch_shift": 2, **kw}


class Classifier(NamedTuple):
    cfg: ClassifierConfig
    params: Any
    temperature: float
    mel_mean: np.ndarray            # [n_mels] front-end moments of the training set
    mel_std: np.ndarray
    train_feats: np.ndarray         # [N, features] of the training clips (no augmentation)
    heldout_feats: np.ndarray       # [M, features] of held-out clips
    centroids: np.ndarray           # [NDB_BINS, features] k-means bins of the training features
    info: dict                      # accuracies and the data it was trained on


class Net(nn.Module):
    width: int
    features: int
    num_classes: int

    @nn.compact
    def __call__(self, x_BxNxM):
        h = x_BxNxM[..., None]
        for mult in (1, 2, 4, 4):
            h = nn.Conv(self.width * mult, (3, 3), padding="SAME")(h)
            h = _max_pool_2x2(nn.relu(nn.GroupNorm(num_groups=8)(h)))
        # Flattened, not pooled over time: order matters (reversed speech is not speech).
        feats = nn.relu(nn.Dense(self.features)(h.reshape(h.shape[0], -1)))
        return nn.Dense(self.num_classes)(feats), feats


def _max_pool_2x2(h_BxHxWxC):
    """2x2 max-pool as a reshape: XLA:CPU's select-and-scatter gradient of nn.max_pool costs
    more than the convolutions here."""
    b, h, w, c = h_BxHxWxC.shape
    x = jnp.pad(h_BxHxWxC, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), constant_values=-jnp.inf)
    return x.reshape(b, x.shape[1] // 2, 2, x.shape[2] // 2, 2, c).max(axis=(2, 4))


def _net(cfg: ClassifierConfig) -> Net:
    return Net(cfg.width, cfg.features, cfg.num_classes)


def _init_params(cfg: ClassifierConfig, key):
    n_frames = spectral.num_frames(cfg.slice_len, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
    return _net(cfg).init(key, jnp.zeros((1, n_frames, cfg.n_mels)))["params"]


def _log_softmax(z_NxK: np.ndarray) -> np.ndarray:
    z = z_NxK - z_NxK.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


# --------------------------------------------------------------------------- front end


def log_mel(cfg: ClassifierConfig, audio_BxT):
    """Peak-normalised clips -> log-mel [B, frames, n_mels], floored TOP_DB below each clip's
    loudest cell (silence: all at the floor of a full-scale clip).

    Why the relative floor: zero padding after a short recording is digital silence, whose
    log power is far below any noise; without a floor a -60 dB hiss on such a clip moves
    its features more than a change of word does."""
    x = jnp.asarray(audio_BxT, jnp.float32)
    peak = jnp.max(jnp.abs(x), axis=-1, keepdims=True)
    x = jnp.where(peak > 1e-6, x / jnp.maximum(peak, 1e-6), 0.0)
    mel = spectral.mel_spectrogram(x, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                   n_mels=cfg.n_mels, fmin=cfg.fmin)
    top = jnp.max(mel, axis=(-2, -1), keepdims=True)
    floor = jnp.where(top > 0, top, _FULL_SCALE_POWER * cfg.n_fft ** 2) * 10.0 ** (-TOP_DB / 10)
    return jnp.swapaxes(jnp.log(jnp.maximum(mel, floor)), -1, -2)


def _standardise(mel_BxNxM, mean_M, std_M):
    return (mel_BxNxM - mean_M[None, None, :]) / std_M[None, None, :]


def fit_audio(cfg: ClassifierConfig, audio, sample_rate: int) -> np.ndarray:
    """Clips [N, T] or [N, T, C] at `sample_rate` -> mono [N, cfg.slice_len] at cfg.sample_rate."""
    from gan_jax import data

    audio = np.asarray(audio, np.float32)
    if audio.ndim == 3:
        audio = audio.mean(axis=-1)
    if audio.ndim != 2:
        raise ValueError(f"audio must be [clips, samples] or [clips, samples, channels], got {audio.shape}")
    # The clips as the channels of one signal [T, N]: one resampling call for all of them.
    resampled_TxN = data.resample(np.ascontiguousarray(audio.T), int(sample_rate), cfg.sample_rate)
    return np.ascontiguousarray(data.fit_length(resampled_TxN, cfg.slice_len).T)


# --------------------------------------------------------------------------- augmentation and junk


def _gather(x_BxT, pos_BxT):
    """x at fractional positions (linear interpolation), zero outside the clip."""
    t = x_BxT.shape[-1]
    i0 = jnp.floor(pos_BxT).astype(jnp.int32)
    w = pos_BxT - i0
    at = lambda i: jnp.take_along_axis(x_BxT, jnp.clip(i, 0, t - 1), axis=-1)
    inside = (pos_BxT >= 0) & (pos_BxT <= t - 1)
    return jnp.where(inside, at(i0) * (1 - w) + at(i0 + 1) * w, 0.0)


def shift_pitch(key, x_BxT, labels_B, max_semitones: int, num_classes: int):
    """Notes resampled by whole semitones k, labels moved with them: (x, labels + k).

    A pitch classifier sees each pitch in only a few notes (nsynth-gm: 488 notes over 61
    pitches); shifted copies show it every timbre at neighbouring pitches, so it learns the
    pitch, not which instrument was recorded there. k is drawn inside [-label, K-1-label]."""
    lo = jnp.maximum(-max_semitones, -labels_B)
    hi = jnp.minimum(max_semitones, num_classes - 1 - labels_B)
    k_B = jax.random.randint(key, labels_B.shape, lo, hi + 1)
    speed = 2.0 ** (k_B[:, None] / 12.0)
    t = x_BxT.shape[-1]
    return _gather(x_BxT, jnp.arange(t)[None, :] * speed), labels_B + k_B


def augment(key, x_BxT, max_speed_change: float = 0.06):
    """Speed change, time shift, gain and a light noise floor on each real clip."""
    b, t = x_BxT.shape
    k_speed, k_shift, k_gain, k_level, k_noise = jax.random.split(key, 5)
    speed = jax.random.uniform(k_speed, (b, 1), minval=1.0 - max_speed_change,
                               maxval=1.0 + max_speed_change)
    shift = jax.random.uniform(k_shift, (b, 1), minval=-0.1, maxval=0.1) * t
    x = _gather(x_BxT, jnp.arange(t)[None, :] * speed - shift)
    gain = 10.0 ** (jax.random.uniform(k_gain, (b, 1), minval=-20.0, maxval=0.0) / 20.0)
    level = 10.0 ** (jax.random.uniform(k_level, (b, 1), minval=-70.0, maxval=-35.0) / 20.0)
    # Half the clips stay clean, so a clean recording is as familiar as a noisy one.
    level = jnp.where(jax.random.uniform(jax.random.fold_in(k_level, 1), (b, 1)) < 0.5, level, 0.0)
    return gain * x + level * jax.random.normal(k_noise, (b, t))


def _coloured_noise(key, n: int, t: int, exponent: float):
    """Noise whose power falls as f^-exponent (0 white, 1 pink, 2 brown), unit peak."""
    spec = jnp.fft.rfft(jax.random.normal(key, (n, t)), axis=-1)
    f = jnp.maximum(jnp.arange(spec.shape[-1]), 1.0)[None, :]
    x = jnp.fft.irfft(spec * f ** (-exponent / 2), n=t, axis=-1)
    return x / (jnp.max(jnp.abs(x), axis=-1, keepdims=True) + 1e-9)


def _scrambled(key, x_BxT, chunks: int = 8):
    """(time-reversed, chunk-shuffled) copies of real clips, scrambled within each clip's
    sounding part (up to its last sample above -80 dB), which stays where it was.

    Why not reverse the whole buffer: a short recording padded with zeros would move to the
    end, and the classifier would learn where the sound is instead of what it is (reversed
    speech kept in place then scored IS ~5)."""
    b, t = x_BxT.shape
    i = jnp.arange(t)[None, :]
    loud = jnp.abs(x_BxT) > 1e-4 * jnp.max(jnp.abs(x_BxT), axis=-1, keepdims=True)
    n = jnp.max(jnp.where(loud, i + 1, 1), axis=-1, keepdims=True)      # sounding length [B, 1]
    inside = i < n
    at = lambda idx: jnp.where(inside, jnp.take_along_axis(x_BxT, jnp.clip(idx, 0, t - 1), axis=-1), 0.0)
    start = lambda j: (j * n) // chunks                  # chunk j is [start(j), start(j + 1))
    bounds = start(jnp.arange(1, chunks)[None, :])       # [B, chunks - 1]
    chunk = jnp.sum(bounds[:, None, :] <= i[:, :, None], axis=-1)
    src = jnp.take_along_axis(jnp.argsort(jax.random.uniform(key, (b, chunks)), axis=-1), chunk, axis=-1)
    # Chunk lengths differ by one at most: the clip keeps its length, a sample may repeat.
    offset = jnp.minimum(i - start(chunk), start(src + 1) - start(src) - 1)
    return at(n - 1 - i), at(start(src) + offset)


def junk(key, real_BxT, n: int, sample_rate: int):
    """n clips of nonsense (one of JUNK_TYPES each) for outlier exposure, [n, T]."""
    t = real_BxT.shape[-1]
    keys = jax.random.split(key, 12)
    ts = jnp.arange(t)[None, :] / sample_rate
    u = lambda k, lo, hi: jax.random.uniform(k, (n, 1), minval=lo, maxval=hi)
    nyq = 0.45 * sample_rate
    f0 = jnp.exp(u(keys[0], math.log(40.0), math.log(nyq)))
    f1 = jnp.exp(u(keys[1], math.log(40.0), math.log(nyq)))
    dur = t / sample_rate
    # Exponential sweep f0 -> f1 over the clip: phase = 2 pi f0 dur (r^(t/dur) - 1) / ln r.
    log_r = jnp.log(f1 / f0) + 1e-6
    sweep = jnp.sin(2 * jnp.pi * f0 * dur * jnp.expm1(log_r * ts / dur) / log_r)
    harmonics = jnp.arange(1, 6)[None, :, None]
    amps = jax.random.uniform(keys[2], (n, 5, 1)) * (jax.random.uniform(keys[3], (n, 5, 1)) < 0.5)
    amps = amps.at[:, 0].set(1.0)
    tone = jnp.sum(amps * jnp.sin(2 * jnp.pi * f0[:, None] * harmonics * ts[:, None] *
                                  (f0[:, None] * harmonics < nyq)), axis=1)
    buzz_f = u(keys[4], 40.0, 400.0)
    buzz = 2 * ((ts * buzz_f) % 1.0) - 1.0
    clicks = (jax.random.uniform(keys[5], (n, t)) < u(keys[6], 1.0, 30.0) / t).astype(jnp.float32)
    source = real_BxT[jax.random.randint(keys[8], (n,), 0, real_BxT.shape[0])]
    reversed_, shuffled = _scrambled(keys[7], source)
    kinds = [_coloured_noise(keys[9], n, t, 0.0), _coloured_noise(keys[10], n, t, 1.0),
             _coloured_noise(keys[11], n, t, 2.0), sweep, tone, buzz, clicks,
             jnp.zeros((n, t)), reversed_, shuffled]
    choice = jax.random.randint(jax.random.fold_in(key, 1), (n,), 0, len(kinds))
    out = jnp.stack(kinds, axis=1)[jnp.arange(n), choice]
    # A random fade in and out, so junk is not always full-length and steady.
    # Half of the clips fade in and out at random times, half are steady and full length.
    env = jnp.clip(jnp.minimum(ts - u(jax.random.fold_in(key, 2), 0.0, dur / 3),
                               u(jax.random.fold_in(key, 3), 2 * dur / 3, dur) - ts) / 0.02, 0.0, 1.0)
    steady = jax.random.uniform(jax.random.fold_in(key, 4), (n, 1)) < 0.5
    out = out * jnp.where(steady, 1.0, env)
    peak = u(jax.random.fold_in(key, 5), 0.1, 1.0)
    return out * peak / (jnp.max(jnp.abs(out), axis=-1, keepdims=True) + 1e-9)


# --------------------------------------------------------------------------- training


def _loss(cfg, params, mean, std, key, real_BxT, labels_B):
    k_aug, k_junk = jax.random.split(key)
    if cfg.pitch_shift:
        real_BxT, labels_B = shift_pitch(jax.random.fold_in(key, 2), real_BxT, labels_B,
                                         cfg.pitch_shift, cfg.num_classes)
    x = jnp.concatenate([augment(k_aug, real_BxT, cfg.max_speed_change),
                         junk(k_junk, real_BxT, cfg.junk_per_batch, cfg.sample_rate)])
    logits, _ = _net(cfg).apply({"params": params}, _standardise(log_mel(cfg, x), mean, std))
    b = real_BxT.shape[0]
    logp = jax.nn.log_softmax(logits)
    real = -jnp.take_along_axis(logp[:b], labels_B[:, None], axis=-1).mean()
    uniform = -logp[b:].mean()           # cross-entropy to the uniform distribution (+ log K)
    accuracy = (jnp.argmax(logits[:b], -1) == labels_B).mean()
    return real + cfg.junk_weight * uniform, {"loss": real, "junk_loss": uniform, "accuracy": accuracy}


def _train_step(cfg, opt, carry, key, real_BxT, labels_B, mean, std):
    params, opt_state = carry
    grads, aux = jax.grad(lambda p: _loss(cfg, p, mean, std, key, real_BxT, labels_B), has_aux=True)(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), aux


def _mel_moments(cfg, clips_NxT) -> tuple[np.ndarray, np.ndarray]:
    f = jax.jit(lambda x: log_mel(cfg, x))
    mels = np.concatenate([np.asarray(f(clips_NxT[i:i + 256])) for i in range(0, len(clips_NxT), 256)])
    return mels.mean(axis=(0, 1)), mels.std(axis=(0, 1)) + 1e-3


def _clips(ds: AudioDataset) -> np.ndarray:
    return np.stack([c.mean(axis=1) for c in ds.clips]).astype(np.float32)


def train_classifier(cfg: ClassifierConfig, train_ds: AudioDataset, heldout_ds: AudioDataset, *,
                     progress: bool = True) -> Classifier:
    """Trains on train_ds (labels 0..K-1), fits the temperature and reports accuracy on
    heldout_ds, and computes the feature statistics scores are compared against."""
    if cfg.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {cfg.kind!r}")
    for name, ds in (("training", train_ds), ("held-out", heldout_ds)):
        if np.any(ds.labels < 0) or np.any(ds.labels >= cfg.num_classes):
            raise ValueError(f"{name} data from {ds.source}: every clip needs a label in 0..{cfg.num_classes - 1}")
    train_x, held_x = _clips(train_ds), _clips(heldout_ds)
    mean, std = _mel_moments(cfg, train_x)
    key = jax.random.key(cfg.seed)
    params = _init_params(cfg, key)
    # A warm-up: at full rate from the start the feature layer's ReLUs can all die (seen on FSDD).
    lr = optax.warmup_cosine_decay_schedule(0.0, cfg.lr, min(100, cfg.steps // 10 + 1), cfg.steps)
    opt = optax.adamw(lr, weight_decay=1e-4)
    carry = (params, opt.init(params))
    step = jax.jit(lambda c, k, x, y: _train_step(cfg, opt, c, k, x, y, mean, std), donate_argnums=0)
    batches = train_ds.batches(cfg.seed, (cfg.batch_size,))
    bar = tqdm(range(cfg.steps), disable=not progress, desc="classifier", unit="step", dynamic_ncols=True)
    for i in bar:
        audio, labels = next(batches)
        carry, aux = step(carry, jax.random.fold_in(key, i), audio.mean(axis=-1), labels)
        if i % 50 == 0 or i == cfg.steps - 1:
            bar.set_postfix({k: f"{float(v):.3f}" for k, v in aux.items()})
    params = carry[0]
    outputs = lambda x: _outputs(cfg, params, mean, std, x)
    held_logits, held_feats = outputs(held_x)
    junk_x = np.asarray(jax.jit(lambda k, x: junk(k, x, len(x), cfg.sample_rate))(
        jax.random.fold_in(key, cfg.steps), jnp.asarray(held_x)))
    temperature = fit_temperature(held_logits, heldout_ds.labels, outputs(junk_x)[0])
    train_feats = outputs(train_x)[1]
    accuracy = float(np.mean(held_logits.argmax(-1) == heldout_ds.labels))
    info = {"heldout_accuracy": accuracy, "train_clips": len(train_ds), "heldout_clips": len(heldout_ds),
            "train_source": train_ds.source, "heldout_source": heldout_ds.source}
    log.info("classifier: held-out accuracy %.4f on %d clips, temperature %.3f", accuracy, len(heldout_ds),
             temperature)
    return Classifier(cfg, params, temperature, mean, std, train_feats, held_feats,
                      metrics.kmeans(train_feats, min(NDB_BINS, len(train_feats)), seed=cfg.seed), info)


def fit_temperature(logits_NxK, labels_N, junk_logits_JxK=None, min_junk_entropy: float = 0.9) -> float:
    """The T > 0 minimising the held-out NLL of softmax(logits / T), among the temperatures
    at which junk keeps a mean label entropy of at least `min_junk_entropy` x log K (a grid
    search, then a finer one around the best: robust, and cheap at this size).

    Why the junk condition: a classifier that is always right on held-out clips has its NLL
    minimised by T -> 0, which would make it certain about nonsense too."""
    logits, labels = np.asarray(logits_NxK, np.float64), np.asarray(labels_N)

    def nll(t):
        return float(-np.mean(_log_softmax(logits / t)[np.arange(len(logits)), labels]))

    def allowed(t):
        if junk_logits_JxK is None:
            return True
        logp = _log_softmax(np.asarray(junk_logits_JxK, np.float64) / t)
        return float(np.mean(-(np.exp(logp) * logp).sum(axis=1))) >= min_junk_entropy * math.log(logits.shape[1])

    def best(grid):
        ok = [t for t in grid if allowed(t)] or [grid[-1]]
        return ok[int(np.argmin([nll(t) for t in ok]))]

    t = best(np.exp(np.linspace(math.log(0.05), math.log(20.0), 61)))
    return float(best(t * np.exp(np.linspace(-0.12, 0.12, 25))))


# --------------------------------------------------------------------------- use


def _outputs(cfg: ClassifierConfig, params, mel_mean, mel_std, audio_NxT,
             batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(logits before temperature [N, K], features [N, D]) of clips already at the classifier's
    rate and length."""
    fn = _forward(cfg)
    logits, feats = [], []
    audio_NxT = np.asarray(audio_NxT, np.float32)
    for start in range(0, len(audio_NxT), batch):
        rows = audio_NxT[start:start + batch]
        pad = batch - len(rows) if len(audio_NxT) > batch else 0   # one compilation per size
        out = fn(params, mel_mean, mel_std, np.pad(rows, ((0, pad), (0, 0))))
        logits.append(np.asarray(out[0])[:len(rows)])
        feats.append(np.asarray(out[1])[:len(rows)])
    return np.concatenate(logits), np.concatenate(feats)


@functools.cache
def _forward(cfg: ClassifierConfig):
    """The jitted front end and net, one per config (so one compilation per config and size)."""
    net = _net(cfg)
    return jax.jit(lambda p, m, s, x: net.apply({"params": p}, _standardise(log_mel(cfg, x), m, s)))


def predict(clf: Classifier, audio, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(calibrated class probabilities [N, K], features [N, D]) of clips at `sample_rate`."""
    logits, feats = _outputs(clf.cfg, clf.params, clf.mel_mean, clf.mel_std,
                             fit_audio(clf.cfg, audio, sample_rate))
    return np.exp(_log_softmax(logits.astype(np.float64) / clf.temperature)), feats


# --------------------------------------------------------------------------- files


def check_out(out_dir) -> Path:
    """The classifier folder to write, checked before any training: new or empty, in a
    writable folder (a classifier is never overwritten)."""
    out = files.user_path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out}: already exists and is not empty; choose another --out or remove it")
    files.writable_dir(out.parent, "classifier folder's parent")
    return out


def save(clf: Classifier, out_dir) -> Path:
    """Writes the classifier folder, whole or not at all: into a temporary sibling, renamed
    at the end."""
    import orbax.checkpoint as ocp

    out = check_out(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        settings = {"config": dataclasses.asdict(clf.cfg), "temperature": clf.temperature,
                    "mel_mean": clf.mel_mean.tolist(), "mel_std": clf.mel_std.tolist(), "info": clf.info}
        (tmp / "classifier.json").write_text(json.dumps(settings, indent=1) + "\n")
        np.savez(tmp / "features.npz", train_feats=clf.train_feats, heldout_feats=clf.heldout_feats,
                 centroids=clf.centroids)
        with ocp.StandardCheckpointer() as ckptr:
            ckptr.save(tmp / "params", jax.device_get(clf.params))
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def check_folder(path) -> Path:
    """`path` if it holds a saved classifier, else FileNotFoundError naming what is missing."""
    root = files.user_path(path)
    for name in _FILES:
        if not (root / name).exists():
            raise FileNotFoundError(f"{root / name}: missing -- is {root} a folder written by "
                                    "`evaluate.py classifier`?")
    return root


def load_classifier(path) -> Classifier:
    """The classifier saved in folder `path`; FileNotFoundError / ValueError name the file."""
    import orbax.checkpoint as ocp

    root = check_folder(path)
    try:
        settings = json.loads((root / "classifier.json").read_text())
        raw = dict(settings["config"])
        raw["label_names"] = tuple(raw["label_names"])
        cfg = ClassifierConfig(**raw)
        with np.load(root / "features.npz", allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("train_feats", "heldout_feats", "centroids")}
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise ValueError(f"{root}: not a readable classifier ({type(e).__name__}: {e})") from None
    abstract = jax.eval_shape(lambda: _init_params(cfg, jax.random.key(0)))
    with ocp.StandardCheckpointer() as ckptr:
        params = ckptr.restore(root / "params", abstract)
    return Classifier(cfg, params, float(settings["temperature"]),
                      np.asarray(settings["mel_mean"], np.float32), np.asarray(settings["mel_std"], np.float32),
                      arrays["train_feats"], arrays["heldout_feats"], arrays["centroids"], settings["info"])
