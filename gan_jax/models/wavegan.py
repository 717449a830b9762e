"""WaveGAN (Donahue et al., 2019): 1-D transposed-conv G and strided-conv D on raw audio.

Layer for layer the reference `chrisdonahue/wavegan` v2 (`wavegan-specgan.md` §2-§5):
glorot-uniform kernels, zero biases, TF "SAME" alignment, kernel 25, stride 4,
z ~ U(-1, 1)^100, dim_mul 16 (16384 samples) or 32 (32768 / 65536, one more layer).
Parameter counts: G 19,065,345 / D 17,427,969 at 16384 samples, dim 64.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import spectral
from gan_jax.models.layers import (UPSAMPLE_MODES, Conv, Dense, UpConv, class_projection,
                                   concat_minibatch_stddev, phase_shuffle)

SLICE_LENS = (4096, 8192, 16384, 32768, 65536)


@dataclasses.dataclass(frozen=True, kw_only=True)
class WaveGANConfig:
    slice_len: int = 16384            # 16384 | 32768 | 65536 samples (paper); 8192, 4096 (quick)
    channels: int = 1                 # audio channels generated and discriminated
    latent_dim: int = 100
    dim: int = 64                     # model width d
    kernel_len: int = 25
    upsample: str = "zeros"           # "zeros" (transposed conv; paper) | "balanced" | "nn" | "linear"
                                      #   | "cubic" (UPSAMPLE_MODES; see layers.UpConv)
    batchnorm: bool = False
    phase_shuffle: int = 2            # radius; 0 = off
    phase_shuffle_per_example: bool = False   # reference: one shift per batch
    post_filter: bool = False         # learned FIR after the tanh
    post_filter_len: int = 512
    conv_impl: str = "phase"          # "phase" (stride-1 rewrite, fast on CPU) | "xla"
    d_conv_impl: str = ""             # D's, in graphs without a gradient penalty; "" = conv_impl
    mbstd_group: int = 0              # D's minibatch-stddev channel per group; 0 = off (paper)
    mbstd_penalty_grad: bool = True   # gradient penalties differentiate through that channel (as
                                      #   PGGAN and StyleGAN2); False holds it constant there
                                      #   (see wavegan.Discriminator)
    num_classes: int = 0              # > 0: class-conditional (not in the paper); 0 = off
    class_head: str = "projection"    # conditional D: "projection" | "ac" | "adc" | ... (CLASS_HEADS)
    g_class_bias: bool = False        # conditional G: + a learned per-class bias on every hidden
                                      #   layer's channels, besides the one-hot after z
    g_class_filter: int = 0           # taps of a learned FIR per class (one if unconditional) on
                                      #   G's output before the tanh (class_fir; not in the paper);
                                      #   0 = off
    g_class_filter_lr: float = 1.0    # the taps learn this many times as fast as G (class_fir)
    spectral_norm: bool = False       # D's kernels over their largest singular value (SNGAN); off = paper
    d_stft: tuple[int, ...] = ()      # D also reads the log-power STFT of each of these n_fft
                                      #   (not in the paper; see Discriminator); () = off (paper)
    sample_rate: ClassVar[int | None] = None   # any rate: data.sample_rate decides

    @property
    def audio_channels(self) -> int:
        return self.channels

    def __post_init__(self):
        if self.slice_len not in SLICE_LENS:
            raise ValueError(f"model.slice_len must be one of {SLICE_LENS}, got {self.slice_len}")
        check_upsample(self.upsample)
        check_conv_impls(self)
        check_mbstd_group(self.mbstd_group)
        check_class_head(self.class_head)
        check_num_classes(self.num_classes)
        if self.g_class_filter < 0:
            raise ValueError(f"model.g_class_filter must be 0 (off) or a number of taps, got "
                             f"{self.g_class_filter}")
        if not self.g_class_filter_lr > 0:
            raise ValueError(f"model.g_class_filter_lr must be > 0, got {self.g_class_filter_lr}")
        for n_fft in self.d_stft:
            if n_fft < 32 or n_fft & (n_fft - 1) or n_fft > self.slice_len // 8:
                raise ValueError(f"model.d_stft must hold powers of 2 from 32 to slice_len / 8 "
                                 f"= {self.slice_len // 8}, got {n_fft}")

    def layout(self):
        """(start shape, kernel, strides per layer, initial width multiplier) of G; D mirrors it.

        Five stride-4 layers reach 16384 from 16 (and 8192 from 8, 4096 from 4, not in the
        paper); longer slices add one stride-2 or -4 layer and start at dim_mul 32.
        """
        extra = {32768: ((2,),), 65536: ((4,),)}.get(self.slice_len, ())
        start = (min(self.slice_len // 1024, 16),)
        return start, (self.kernel_len,), ((4,),) * 5 + extra, 32 if extra else 16


def check_upsample(mode: str) -> None:
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"model.upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {mode!r}")


def check_conv_impls(cfg) -> None:
    if cfg.conv_impl not in ("phase", "xla"):
        raise ValueError(f"model.conv_impl must be phase or xla, got {cfg.conv_impl!r}")
    if cfg.d_conv_impl not in ("", "phase", "xla"):
        raise ValueError(f"model.d_conv_impl must be empty (= conv_impl), phase or xla, got "
                         f"{cfg.d_conv_impl!r}")


def check_mbstd_group(group: int) -> None:
    if group < 0 or group == 1:
        raise ValueError(f"model.mbstd_group must be 0 (off) or a group size >= 2, got {group}")


def check_num_classes(k: int) -> None:
    if k < 0 or k == 1:
        raise ValueError(f"model.num_classes must be 0 (unconditional) or >= 2, got {k}")


# Conditional D heads: does D read the labels (a projection), and how many class logits per
# class does it return: 0 (none), 1 (an auxiliary classifier of real data, AC-GAN) or 2 (real
# and fake copies of each class, ADC-GAN)?
CLASS_HEADS = {"projection": (True, 0), "ac": (False, 1), "projection+ac": (True, 1),
               "adc": (False, 2), "projection+adc": (True, 2)}


def check_class_head(head: str) -> None:
    if head not in CLASS_HEADS:
        raise ValueError(f"model.class_head must be one of {', '.join(CLASS_HEADS)}, got {head!r}")


def sample_labels(cfg, key, n: int, stats=None):
    """Fake class labels [n] of a class-conditional model, uniform over its classes."""
    return jax.random.randint(key, (n,), 0, max(cfg.num_classes, 1))


def _batchnorm(train: bool):
    # TF's batch norm: momentum 0.99, epsilon 1e-3 (Flax's default epsilon is 1e-5).
    return nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3)


def sample_latent(cfg: WaveGANConfig, key, n: int):
    """z ~ U(-1, 1): the reference uses uniform z in training and inference alike."""
    return jax.random.uniform(key, (n, cfg.latent_dim), minval=-1.0, maxval=1.0)


class Generator(nn.Module):
    """Dense -> reshape -> transposed convs -> tanh, in 1-D (WaveGAN) or 2-D (SpecGAN).

    `cfg.layout()` gives the geometry; the width halves after every layer, from
    dim * dim_mul down to dim, and the last layer outputs `channels`. A class-conditional
    G (`num_classes`) takes a one-hot label [B, K] after z, concatenated to it; with
    `g_class_bias` every hidden layer also adds a learned per-class bias to its channels
    (conditional batch norm's shift, without the norm): the one-hot alone is one input among
    latent_dim + K to the first layer, a weak pull on a G that has 1350 steps to learn it.
    The biases start at 0, so G starts as the one-hot-only G. With `g_class_filter` the
    last layer's output is filtered by a learned FIR of its class before the tanh
    (`class_fir`).
    """
    cfg: Any

    @nn.compact
    def __call__(self, z_BxZ, label_BxK=None, train: bool = False):
        c = self.cfg
        start, kernel, strides, dim_mul = c.layout()
        channels = c.channels

        def class_bias(x, name):
            if label_BxK is None or not c.g_class_bias:
                return x
            b_BxC = nn.Dense(x.shape[-1], use_bias=False, kernel_init=nn.initializers.zeros,
                             name=name)(label_BxK.astype(x.dtype))
            return x + b_BxC.reshape(b_BxC.shape[0], *(1,) * (x.ndim - 2), -1)

        if label_BxK is not None:
            z_BxZ = jnp.concatenate([z_BxZ, label_BxK.astype(z_BxZ.dtype)], axis=-1)
        x = nn.Dense(int(np.prod(start)) * c.dim * dim_mul,
                     kernel_init=nn.initializers.glorot_uniform(), name="z_project")(z_BxZ)
        x = x.reshape(x.shape[0], *start, c.dim * dim_mul)
        if c.batchnorm:   # after the reshape: over 16d channels, as the reference does
            x = _batchnorm(train)(x)
        x = nn.relu(class_bias(x, "z_project_class_bias"))
        for i, s in enumerate(strides):
            last = i == len(strides) - 1
            dim_mul //= 2
            x = UpConv(channels if last else c.dim * dim_mul, kernel, s, mode=c.upsample,
                       impl=c.conv_impl, name=f"upconv_{i}")(x)
            if last:
                if c.g_class_filter:
                    x = class_fir(self, x, label_BxK, c.g_class_filter, c.g_class_filter_lr)
                x = jnp.tanh(x)
            else:
                if c.batchnorm:
                    x = _batchnorm(train)(x)
                x = nn.relu(class_bias(x, f"upconv_{i}_class_bias"))
        if c.post_filter:
            # After the tanh, as the reference. The reference filter has one output channel,
            # which silently mixes multi-channel audio down to mono; we keep `channels`.
            x = Conv(channels, (c.post_filter_len,), use_bias=False, impl=c.conv_impl,
                     name="pp_filt")(x)
        return x


def class_fir(module: nn.Module, x_BxTxC, label_BxK, taps: int, lr: float = 1.0):
    """x, each example convolved ('same') with its class's learned FIR of `taps` taps (one
    filter for all when `label_BxK` is None: an unconditional G).

    Not in the papers. A quick-size G lays 86-100 % of every class's power on one comb of
    partials, the multiples of the rate of its first upsampled layer's positions (31.25 Hz
    at 8 kHz and 4096 samples: the later transposed convs turn each position into much the
    same 256 samples), over a noise floor far above the data's, and the class reaches the
    audio only through that shared stack; a kick or a tom then comes out as a snare or a
    bell (benchmarks/QUALITY.md). A filter per class at the output gives each class its
    own spectral shape directly: one per class, before the tanh so the output stays in
    (-1, 1), each a unit impulse at init (G as without it). Learnt at G's rate they stay
    within about 13 dB of flat, yet G follows the class far better: on FSDD the quick
    preset went from 72-86 % of its clips the digit asked for to 95-100 %, and its IS from
    6.6 to 9.3 (three seeds). At 30 times G's rate (`lr`) they take each class's shape (a
    kick's +24 dB at 40-54 Hz, -6 to -15 dB over 400 Hz) and the kick comes out. By FFT: a
    filter per example would otherwise be a grouped conv.
    """
    _, t, _ = x_BxTxC.shape
    k = 1 if label_BxK is None else label_BxK.shape[-1]
    # The taps are a unit impulse plus lr * delta, delta learnt from 0: Adam moves each
    # parameter by about G's learning rate a step whatever its scale, so the taps move lr
    # times as fast. At lr 1 (1e-4 falling to 0) a tap can drift ~0.1 in the quick budget,
    # too little for a lowpass, whose centre tap must fall from 1 to ~0.04.
    delta_KxL = module.param("class_filter_delta", nn.initializers.zeros, (k, taps))
    h_KxL = jnp.zeros((k, taps)).at[:, taps // 2].set(1.0) + lr * delta_KxL
    h_BxL = h_KxL if label_BxK is None else label_BxK.astype(jnp.float32) @ h_KxL
    n = 1 << (t + taps - 2).bit_length()            # a power of 2 >= t + taps - 1: no wrap-around
    y = jnp.fft.irfft(jnp.fft.rfft(x_BxTxC.astype(jnp.float32), n=n, axis=1)
                      * jnp.fft.rfft(h_BxL, n=n, axis=1)[..., None], n=n, axis=1)
    return y[:, taps // 2:taps // 2 + t].astype(x_BxTxC.dtype)


def log_power(x_BxTxC, n_fft: int):
    """0.1 * log(|STFT|^2 + 1e-4), [B, T / hop, n_fft / 2, C], hop n_fft / 4: centred frames,
    the last frame and the Nyquist bin dropped, so the frames halve evenly down D's convs.
    The power is spectral.magnitude's re^2 + im^2, not `abs` squared: abs's gradient at 0 is
    NaN, and R1 differentiates twice. The floor 1e-4 sits 76 dB under a full-scale tone's
    peak (4096 at n_fft 256); the 0.1 keeps values near [-1, 1].
    """
    x_BxCxT = jnp.moveaxis(x_BxTxC, -1, 1).astype(jnp.float32)
    s_BxCxFxN = spectral.stft(x_BxCxT, n_fft=n_fft, hop_length=n_fft // 4)
    p = spectral.magnitude(s_BxCxFxN, power=2.0)
    return jnp.transpose(0.1 * jnp.log(p[:, :, :-1, :-1] + 1e-4), (0, 3, 2, 1)).astype(x_BxTxC.dtype)


class Discriminator(nn.Module):
    """Strided convs with leaky ReLU 0.2 (phase shuffle after layers 0-3 when configured)
    -> [a minibatch-stddev channel] -> flatten -> Dense 1; widths dim * 2^i.

    Class-conditional (`num_classes`), with `class_head`:
    - "projection" (Miyato & Koyama 2018): D takes the labels [B] and adds
      <embedding(label), features> to its logit, so "real" means real *and* of that class;
    - "ac" (AC-GAN): D also returns K class logits from the same features, an auxiliary
      classifier trained on real labels;
    - "projection+ac": both: the classifier makes D's features class-aware sooner, the
      projection is trained against fakes and so cannot be fooled the way a classifier of
      real data alone can. Measured on FSDD (benchmarks/QUALITY.md): with AC weights
      D 10 / G 1 G follows the class; with `train.g_ac_weight=0` it does not;
    - "adc" (ADC-GAN, Hou et al. 2022): 2K class logits, "real of class k" and "fake of
      class k", trained on reals and fakes; G is pulled towards the real copy of its class
      and away from the fake one, which a G that only fools a classifier of real data
      cannot satisfy (losses.d_class_loss, g_class_loss); "projection+adc": with the
      projection. Neither beat "projection+ac" on FSDD.

    With `d_stft` (not in the papers) D also has a spectrogram branch per FFT size: the log
    power of an STFT of the input (`log_power`), read by three stride-2 convs (kernel 5)
    along time with the frequency bins as channels, widths dim * 4, 8, 16; their features
    join the waveform features before the output (and class) heads. At quick sizes the
    waveform convs let G keep the tonal artifacts of strided upsampling (peaks at multiples
    of each layer's rate) and a noise floor far above the data's; on a frequency axis both
    are plain to see (benchmarks/QUALITY.md).

    `in_penalty`: this D is the one a gradient penalty (R1, WGAN-GP) differentiates
    (step.critic_loss). With `cfg.mbstd_penalty_grad` off it holds its minibatch-stddev
    channel constant, so the penalty is each example's own input gradient at the batch's
    statistic: the path through the statistic doubled XLA:CPU's R1 step (WaveGAN quick:
    255-262 against 127-128 ms; benchmarks/RESULTS.md). D's forward pass and loss are
    unchanged.
    """
    cfg: Any
    in_penalty: bool = False

    @nn.compact
    def __call__(self, x, label_B=None):
        c = self.cfg
        _, kernel, strides, _ = c.layout()
        shuffle = c.phase_shuffle
        impl = c.d_conv_impl or c.conv_impl
        audio = x
        for i, s in enumerate(strides):
            x = Conv(c.dim * 2 ** i, kernel, s, impl=impl, spectral_norm=c.spectral_norm,
                     name=f"downconv_{i}")(x)
            if c.batchnorm and i > 0:
                x = _batchnorm(train=True)(x)   # D only ever runs in training mode
            x = nn.leaky_relu(x, 0.2)
            if i < 4 and shuffle > 0:
                x = phase_shuffle(x, self.make_rng("shuffle"), shuffle,
                                  c.phase_shuffle_per_example)
        if c.mbstd_group:
            # Not in the papers: PGGAN's minibatch stddev, against the few-digit collapse of
            # short CPU runs (benchmarks/QUALITY.md).
            x = concat_minibatch_stddev(x, c.mbstd_group,
                                        hold=self.in_penalty and not c.mbstd_penalty_grad)
        x = x.reshape(x.shape[0], -1)
        for n_fft in c.d_stft:
            h = log_power(audio, n_fft)
            h = h.reshape(*h.shape[:2], -1)   # frequency bins (x channels) as channels
            for i in range(3):
                h = Conv(c.dim * 2 ** (i + 2), (5,), (2,), impl=impl, spectral_norm=c.spectral_norm,
                         name=f"stft{n_fft}_conv_{i}")(h)
                h = nn.leaky_relu(h, 0.2)
            x = jnp.concatenate([x, h.reshape(h.shape[0], -1).astype(x.dtype)], axis=-1)
        logits = Dense(1, c.spectral_norm, name="output")(x)[:, 0]
        if not c.num_classes:
            return logits
        projection, per_class = CLASS_HEADS[c.class_head]
        if projection:   # label_B [B, M]: logits [B, M], one per label (train.d_mismatch)
            logits = (logits if label_B.ndim == 1 else logits[:, None]) + class_projection(
                x, label_B, c.num_classes)
        if per_class:
            return logits, Dense(per_class * c.num_classes, c.spectral_norm,
                                 name="classification_logits")(x)
        return logits
