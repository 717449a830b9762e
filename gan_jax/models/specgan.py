"""SpecGAN (Donahue et al., 2019): WaveGAN's networks in 2-D on normalised log spectrograms.

Representation (`wavegan-specgan.md` §6): `tf.signal.stft(x, 256, 128, pad_end=True)`
with a periodic Hann window -> 128 frames x 129 bins for 16384 samples; the Nyquist bin
is dropped; `log(|X| + 1e-6)` is normalised per frequency bin by dataset moments (over
all 129 bins, computed once per run and checkpointed with it), divided by 3 and clipped
to [-1, 1]. D sees `[B, 128 time, 128 freq, 1]` (64 time for 8192 samples, not in the
paper); G outputs the same, and `decode` inverts the normalisation and runs Griffin-Lim
(16 iterations, zero initial phase, as the reference) inside the jitted `sample`.

Two deliberate departures from the reference code, both listed as bugs there:
- Griffin-Lim resynthesises with the window-normalised ISTFT (`spectral.griffin_lim`),
  so there is no 0.5-1.0 amplitude ripple at the frame rate and no -2.5 dB gain loss.
- The dropped Nyquist bin comes back with zero magnitude, not as its dataset mean
  (a constant tone at 8 kHz in every clip).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import spectral
from gan_jax.models.wavegan import (check_class_head, check_conv_impls, check_mbstd_group,
                                    check_num_classes, check_upsample)
from gan_jax.models.wavegan import sample_latent  # noqa: F401  (z ~ U(-1, 1)^100, as WaveGAN)

N_FFT = 256
HOP = 128
SLICE_LEN = 16384          # the reference supports only this length (128 frames)
SLICE_LENS = (8192, SLICE_LEN)   # 8192: 64 frames x 128 bins, for the quick presets


@dataclasses.dataclass(frozen=True, kw_only=True)
class SpecGANConfig:
    slice_len: int = SLICE_LEN
    latent_dim: int = 100
    dim: int = 64                     # model width d
    kernel_len: int = 5               # 5x5 kernels
    upsample: str = "zeros"           # "zeros" (transposed conv; paper) | "balanced" | "nn" | "linear"
                                      #   | "cubic" (UPSAMPLE_MODES; see layers.UpConv)
    batchnorm: bool = False
    conv_impl: str = "phase"          # "phase" (stride-1 rewrite, fast on CPU) | "xla"
    d_conv_impl: str = ""             # D's, in graphs without a gradient penalty; "" = conv_impl
                                      #   ("xla": the quick preset's plain steps 30 % faster)
    clip_nstd: float = 3.0            # normalised log-magnitudes are clipped at +-3 std
    log_eps: float = 1e-6
    griffin_lim_iters: int = 16       # the reference's ngl
    griffin_lim_momentum: float = 0.0   # 0 = plain Griffin-Lim (reference); 0.99 = librosa's fast GL
    mbstd_group: int = 0              # D's minibatch-stddev channel per group; 0 = off (paper)
    mbstd_penalty_grad: bool = True   # gradient penalties differentiate through that channel (as
                                      #   PGGAN and StyleGAN2); False holds it constant there
                                      #   (see wavegan.Discriminator)
    num_classes: int = 0              # > 0: class-conditional (not in the paper); 0 = off
    class_head: str = "projection"    # conditional D: "projection" | "ac" | "adc" | ... (CLASS_HEADS)
    g_class_bias: bool = False        # conditional G: + a learned per-class bias on every hidden
                                      #   layer's channels, besides the one-hot after z
    spectral_norm: bool = False       # D's kernels over their largest singular value (SNGAN); off = paper
    # WaveGAN's G/D read these; SpecGAN fixes them (mono, no phase shuffle, post-filter or
    # STFT branch: its D already reads a spectrogram).
    channels: ClassVar[int] = 1
    phase_shuffle: ClassVar[int] = 0
    phase_shuffle_per_example: ClassVar[bool] = False
    post_filter: ClassVar[bool] = False
    d_stft: ClassVar[tuple[int, ...]] = ()
    g_class_filter: ClassVar[int] = 0
    audio_channels: ClassVar[int] = 1
    sample_rate: ClassVar[int | None] = None   # any rate: data.sample_rate decides

    def __post_init__(self):
        if self.slice_len not in SLICE_LENS:
            raise ValueError(f"model.slice_len must be {SLICE_LEN} (128 frames of hop {HOP}, "
                             f"the paper) or 8192 (64 frames) for SpecGAN, got {self.slice_len}")
        check_upsample(self.upsample)
        check_conv_impls(self)
        if self.griffin_lim_iters < 0:
            raise ValueError(f"model.griffin_lim_iters must be >= 0, got {self.griffin_lim_iters}")
        check_mbstd_group(self.mbstd_group)
        check_class_head(self.class_head)
        check_num_classes(self.num_classes)

    def layout(self):
        """G: [4, 4, 16d] -> five 5x5 stride-2 transposed convs -> [128, 128, 1]; D mirrors it.

        8192 samples: [4, 8, 8d] -> four layers -> [64 frames, 128 bins]. Not five from
        [2, 4]: XLA:CPU runs a conv whose output is 2 rows high ~20x slower than 4 rows.
        """
        k = self.kernel_len
        if self.slice_len == 8192:
            return (4, 8), (k, k), ((2, 2),) * 4, 8
        return (4, 4), (k, k), ((2, 2),) * 5, 16


def log_spectrogram(audio_BxT, log_eps: float = 1e-6):
    """log(|STFT| + eps) with TF's framing (pad_end, no centring): [B, 128 time, 129 freq]."""
    spec_BxFxN = spectral.stft(spectral.pad_end(audio_BxT, N_FFT, HOP), n_fft=N_FFT,
                               hop_length=HOP, center=False)
    return jnp.swapaxes(spectral.log_magnitude(spec_BxFxN, log_eps), -1, -2)


def encode(cfg: SpecGANConfig, audio_BxTx1, stats):
    """Audio -> D's input: normalised, clipped log-magnitudes [B, 128, 128, 1] in [-1, 1]."""
    logmag_BxNxF = log_spectrogram(audio_BxTx1[..., 0], cfg.log_eps)[..., :-1]   # drop Nyquist
    mean, std = stats["mean"][:-1], stats["std"][:-1]
    norm = (logmag_BxNxF - mean[None, None]) / std[None, None]
    return jnp.clip(norm / cfg.clip_nstd, -1.0, 1.0)[..., None]


def to_magnitude(cfg: SpecGANConfig, spec_BxNxFx1, stats):
    """G's output -> linear magnitudes [B, 129 freq, 128 frames] (Nyquist restored as 0)."""
    mean, std = stats["mean"][:-1], stats["std"][:-1]
    logmag = spec_BxNxFx1[..., 0] * cfg.clip_nstd * std[None, None] + mean[None, None]
    mag = jnp.exp(logmag)
    mag = jnp.pad(mag, [(0, 0), (0, 0), (0, 1)])
    return jnp.swapaxes(mag, -1, -2)


def decode(cfg: SpecGANConfig, spec_BxNxFx1, stats):
    """G's output -> audio [B, 16384, 1] by Griffin-Lim from zero phase."""
    audio_BxT = spectral.griffin_lim(
        to_magnitude(cfg, spec_BxNxFx1, stats), n_fft=N_FFT, hop_length=HOP, center=False,
        n_iter=cfg.griffin_lim_iters, momentum=cfg.griffin_lim_momentum, init="zeros",
        length=cfg.slice_len)
    return audio_BxT[..., None]


def compute_stats(cfg: SpecGANConfig, dataset, batch: int = 64) -> dict:
    """Per-bin mean and (population) std of log(|X| + eps) over every frame of the data.

    As the reference's `moments` mode: one pass, all 129 bins, the zero-padded tails
    included. With random slicing the pass is one epoch of random windows.
    """
    from tqdm.auto import tqdm

    logmag = jax.jit(lambda x: log_spectrogram(x, cfg.log_eps))
    total, total_sq, count = np.zeros(N_FFT // 2 + 1), np.zeros(N_FFT // 2 + 1), 0
    n_batches = math.ceil(len(dataset) / batch)
    stream = dataset.batches(0, (batch,)) if dataset.slicing == "random" else None
    for i in tqdm(range(n_batches), desc="spectrogram moments", disable=n_batches < 20,
                  leave=False):
        if stream is None:
            audio = np.stack(dataset.clips[i * batch:(i + 1) * batch])[..., :cfg.slice_len, 0]
        else:
            audio = next(stream)[0][..., 0]
        frames = np.asarray(logmag(audio), np.float64).reshape(-1, N_FFT // 2 + 1)
        total += frames.sum(0)
        total_sq += (frames ** 2).sum(0)
        count += frames.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0))
    return {"mean": mean.astype(np.float32), "std": np.maximum(std, 1e-6).astype(np.float32)}
