"""GANSynth (Engel et al., 2019): a progressive GAN on IF-Mel spectrograms (`gansynth.md`).

Everything follows the released configuration `configs/mel_prog_hires.py` ("IF-Mel + H",
`gansynth.md` §0, §2.1) unless a `GANSynthConfig` field says otherwise.

Representation (§1; the spectral maths is `gan_jax.spectral`). 64000 samples at 16 kHz,
3072 zeros in front, n_fft 2048 / hop 512, periodic Hann, DC dropped, Nyquist kept ->
`[B, 128 time, 1024 freq, C]`, channels last ("H" = time, "W" = frequency, as TF):
- "mel_if" (default): [log-mel power, mel IF], mel warp with 1024 bands (no compression);
- "if": [log magnitude, IF] on the linear axis (lossless round trip, §9.3);
- "mag": [log magnitude] only, inverted by Griffin-Lim (`griffin_lim_iters`, momentum).
Every channel is normalised with the reference's fixed constants (§1.6),
`clip(a x + b, -1, 1)`: magnitude a = 0.0661371661726, b = 0.113718730221 (log(1e-6) ->
-0.8), phase a = 0.8, b = 0. As in the reference, the same constants serve every
representation, although linear log magnitudes only reach ~6.2, i.e. +0.53. `encode`
gives the normalised tensor; `decode` denormalises and inverts. `stats` is unused.

Networks (§2.2-§2.5), progressive over 7 resolutions 2x16 -> 128x1024, widths
min(4096 / 2^b, 256) = 256, 256, 256, 256, 128, 64, 32 for blocks 1..7:
- equalised learning rate: N(0, 1) kernels scaled at run time by sqrt(2 / ((1 + slope^2)
  fan_in)); slope 0 (sqrt(2 / fan_in)) for every hidden conv of G and D, D's from_rgb
  included; slope 1 (sqrt(1 / fan_in)) for G's to_rgb and both dense heads of D;
- G: pixel norm of [z, one-hot pitch] jointly, a 2x16 "VALID" conv on the zero-padded
  1x1 input (a dense layer with a flipped kernel), then per block nearest x2 upscale and two
  3x3 convs, each lrelu(0.2) + pixel norm; every block has a 1x1 tanh to_rgb whose output is
  nearest-upscaled to 128x1024 and weighted by alpha_b (§2.4). **G always emits the full
  128x1024 resolution**, as the reference does; at early stages the output is blocky.
- D takes the full-resolution normalised input, box-downscales it for each block's 1x1
  from_rgb (lrelu), runs two 3x3 convs + 2x2 average pool per block with the fade-in blend
  (§2.5), then minibatch stddev (one scalar over the whole batch), a 3x3 conv, a 2x16
  "VALID" conv and two dense heads: the WGAN logit and 61 pitch-class logits.

Stages (§2.7): 13 stages; even ids are stable, odd ids are transitions; stage s has
(s + 1) // 2 + 1 blocks. Modules take a static `stage` and a traced `alpha` in [0, 1], the
weight of the newest block during a transition (ignored at stable stages), i.e. the
reference's progress p = s // 2 + alpha at odd s and p = s // 2 at even s. `init` always
creates the parameters of all 7 blocks, so one parameter tree serves every stage (the
reference restores all earlier variables at each stage; new blocks start from their init).
`stage_and_alpha(images_seen, cfg)` is the reference's image-count schedule.

Parameter counts (eval_shape, all blocks; asserted in tests/test_gansynth_model.py):
- "mel_if" / "if": G 7,311,246 and D 6,831,230. §2.6 gives G 7,311,242 because it sums the
  seven to_rgb layers to 2,506; they hold 4 x 514 + 258 + 130 + 66 = 2,510. D matches §2.6.
- "mag" (1 channel): G 7,309,991 and D 6,829,982 (to_rgb / from_rgb lose a channel).

Deliberate choices where the reference is silent or leaves a port room:
- G outputs the *normalised* tanh spectrogram and D takes normalised input (the reference
  denormalises inside G and renormalises, with the clip, inside D). D's output is the same;
  only the gradient penalty's input space differs: the reference's gradient w.r.t. the raw
  spectrogram is `norm_scale(cfg)` times ours per channel (see `norm_scale`).
- Real data must be blended like G's output during training: `blend_images` (§2.5); it
  acts on the normalised (clipped) data, where the reference blends raw data and clips
  after, a difference only where the clip is active.
- Fake pitches: the reference samples the training pitch histogram (hard-coded counts in
  `lib/datasets.py`, not reproduced in §2.4); `sample_pitch` takes the counts of the data
  at hand (`pitch_histogram`) and is uniform without them.

Training constants that belong to the train config (`configs/gansynth.py`, §2.1, §2.8):
Adam lr 8e-4, b1 0.0, b2 0.99, eps 1e-8, reset at every stage; batch 8; G step then D step
(train.g_first); EMA 0.999 of G; WGAN-GP weight 10, drift 0.001 (train.drift_weight),
auxiliary-classifier weight 10 for D (real data) and G (fakes) (train.d_ac_weight,
train.g_ac_weight).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import spectral
from gan_jax.models import layers
from gan_jax.models.wavegan import CLASS_HEADS, check_class_head

REPRESENTATIONS = ("mel_if", "if", "mag")
PITCH_TEMPLATES = ("none", "g", "g+d")
LRELU_SLOPE = 0.2           # tf.nn.leaky_relu default
PIXEL_NORM_EPS = 1e-8
MBSTD_EPS = 1e-6


@dataclasses.dataclass(frozen=True, kw_only=True)
class GANSynthConfig:
    # Representation (gansynth.md §1).
    representation: str = "mel_if"   # "mel_if" (IF-Mel + H) | "if" (linear IF + H) | "mag"
    sample_rate: int = 16000
    slice_len: int = 64000           # 4 s; the front padding fills 128 frames of hop 512
    log_eps: float = 1e-6            # safe_log epsilon
    mag_norm_scale: float = 0.0661371661726    # §1.6: log(1e-6) -> -0.8, ~10.38 -> +0.8
    mag_norm_shift: float = 0.113718730221
    if_norm_scale: float = 0.8                 # IF in [-1, 1] -> [-0.8, 0.8]
    if_norm_shift: float = 0.0
    griffin_lim_iters: int = 64      # "mag" only; not in the reference (fast GL, zero phase)
    griffin_lim_momentum: float = 0.99
    # Conditioning and latent (§2.4).
    latent_dim: int = 256            # z ~ N(0, I)
    pitch_min: int = 24              # MIDI; 61 classes 24..84
    pitch_max: int = 84
    pitch_gain: float = 1.0          # the one-hot pitch is scaled by this before the joint pixel
                                     # norm with z; 1 = the paper. At 1 the pitch (one input in
                                     # 317) moves G's output a sixth as much as z does, and
                                     # equalized-lr weights change by ~lr a step in units of
                                     # their N(0, 1) init, so G takes far longer than a CPU
                                     # budget to amplify it; at 16 pitch and z weigh the same
    pitch_template: str = "none"     # "g": G's 3x3 convs also read the encoded harmonic tone
                                     # of the asked pitch (`pitch_templates`) as more channels;
                                     # "g+d": D's input too; "none" = the paper (one-hot only)
    class_head: str = "ac"           # D's pitch head: "ac", the paper's auxiliary classifier,
                                     # or another of wavegan.CLASS_HEADS ("projection+ac": + a
                                     # projection, the quick SpecGAN's recipe; not in the paper)
    # Networks (§2.1-§2.3).
    fmap_base: int = 4096            # width of block b: int(min(fmap_base / 2^(b fmap_decay), fmap_max))
    fmap_decay: float = 1.0
    fmap_max: int = 256
    kernel_size: int = 3
    num_resolutions: int = 7         # x2 on both axes per block
    start_height: int = 2            # time frames of block 1 ("+H")
    start_width: int = 16            # frequency bins of block 1
    # Progressive schedule (§2.7), counted in images.
    progressive: bool = True         # False: always the last stage (all blocks, p = 6)
    stable_stage_num_images: int = 800_000
    transition_stage_num_images: int = 800_000
    total_num_images: int = 11_000_000
    # Where the WGAN-GP gradient is taken (§2.8): "raw" = w.r.t. the denormalised
    # spectrogram, as the reference (normalisation sits inside its D); "normalized" = w.r.t.
    # D's input. The loss weights (GP 10, drift 0.001, AC 10) are train.* settings.
    gp_space: str = "raw"

    def __post_init__(self):
        check_class_head(self.class_head)
        if self.pitch_template not in PITCH_TEMPLATES:
            raise ValueError(f"model.pitch_template must be one of {', '.join(PITCH_TEMPLATES)}, "
                             f"got {self.pitch_template!r}")
        if self.gp_space not in ("raw", "normalized"):
            raise ValueError(f"model.gp_space must be raw or normalized, got {self.gp_space!r}")
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"model.representation must be one of {', '.join(REPRESENTATIONS)}, "
                             f"got {self.representation!r}")
        for name in ("sample_rate", "slice_len", "latent_dim", "fmap_base", "fmap_max",
                     "kernel_size", "num_resolutions", "start_height", "start_width",
                     "stable_stage_num_images", "transition_stage_num_images",
                     "total_num_images"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"model.kernel_size must be odd ('SAME' convs), got {self.kernel_size}")
        if self.pitch_max < self.pitch_min:
            raise ValueError(f"model.pitch_max must be >= model.pitch_min, got "
                             f"{self.pitch_max} < {self.pitch_min}")
        if self.pitch_gain <= 0:
            raise ValueError(f"model.pitch_gain must be > 0, got {self.pitch_gain}")
        if self.fmap_decay <= 0:
            raise ValueError(f"model.fmap_decay must be > 0, got {self.fmap_decay}")
        if num_filters(self, self.num_resolutions) < 1:
            raise ValueError(f"model.fmap_base={self.fmap_base} leaves block "
                             f"{self.num_resolutions} with no channels; raise it")
        w = self.final_width
        if w & (w - 1):
            raise ValueError(f"model.start_width * 2^(num_resolutions - 1) must be a power of 2 "
                             f"(n_fft = 2 x frequency bins), got {w}")
        if self.n_fft % 4:
            raise ValueError(f"model.start_width * 2^(num_resolutions - 1) must be >= 2 "
                             f"(hop = n_fft / 4), got {w}")
        capacity = self.hop_length * (self.final_height - 1) + self.n_fft
        if self.slice_len > capacity:
            raise ValueError(f"model.slice_len={self.slice_len} is longer than the "
                             f"{self.final_height} frames of hop {self.hop_length} "
                             f"(n_fft {self.n_fft}) hold ({capacity})")
        for name in ("mag_norm_scale", "if_norm_scale"):
            if getattr(self, name) <= 0:
                raise ValueError(f"model.{name} must be > 0, got {getattr(self, name)}")
        if self.griffin_lim_iters < 0:
            raise ValueError(f"model.griffin_lim_iters must be >= 0, got {self.griffin_lim_iters}")
        if self.progressive:
            last_start = _stage_end(self, self.num_stages - 2)
            if self.total_num_images < last_start:
                raise ValueError(f"model.total_num_images={self.total_num_images} ends training "
                                 f"before the last stage starts ({last_start} images)")

    @property
    def channels(self) -> int:
        """Representation channels: 2 for [magnitude, IF], 1 for "mag"."""
        return 1 if self.representation == "mag" else 2

    @property
    def audio_channels(self) -> int:
        """The notes are mono (`channels` are the spectrogram's)."""
        return 1

    @property
    def num_pitches(self) -> int:
        return self.pitch_max - self.pitch_min + 1

    @property
    def final_height(self) -> int:
        return self.start_height * 2 ** (self.num_resolutions - 1)

    @property
    def final_width(self) -> int:
        return self.start_width * 2 ** (self.num_resolutions - 1)

    @property
    def n_fft(self) -> int:
        return 2 * self.final_width       # DC dropped, Nyquist kept: n_fft / 2 bins

    @property
    def hop_length(self) -> int:
        return self.n_fft // 4            # overlap 0.75

    @property
    def num_stages(self) -> int:
        return 2 * self.num_resolutions - 1


# ----------------------------------------------------------------------------
# Stages and progress (gansynth.md §2.7)


def num_filters(cfg: GANSynthConfig, block: int) -> int:
    """Width of block b (§2.2): int(min(fmap_base / 2^(b decay), fmap_max))."""
    return int(min(cfg.fmap_base / 2.0 ** (block * cfg.fmap_decay), cfg.fmap_max))


def stage_num_blocks(stage: int) -> int:
    """Blocks in use at a stage: (stage + 1) // 2 + 1 (1, 2, 2, 3, 3, ..., 7)."""
    return (stage + 1) // 2 + 1


def _resolve_stage(cfg: GANSynthConfig, stage: int | None) -> int:
    if stage is None:
        return cfg.num_stages - 1
    if not 0 <= stage < cfg.num_stages:
        raise ValueError(f"stage must be in 0..{cfg.num_stages - 1}, got {stage}")
    return int(stage)


def _stage_end(cfg: GANSynthConfig, stage: int) -> int:
    """Images seen when `stage` ends (`train_util.get_stage_info`), before the last-stage rule."""
    return ((stage // 2 + 1) * cfg.stable_stage_num_images
            + ((stage + 1) // 2) * cfg.transition_stage_num_images)


def stage_ends(cfg: GANSynthConfig) -> tuple[int, ...]:
    """Image count at which each stage ends; the last stage runs to total_num_images."""
    ends = [_stage_end(cfg, s) for s in range(cfg.num_stages - 1)] + [cfg.total_num_images]
    return tuple(min(e, cfg.total_num_images) for e in ends)


def stage_and_alpha(images_seen: int, cfg: GANSynthConfig) -> tuple[int, float]:
    """(stage, alpha) after `images_seen` training images (a Python int; stage is static).

    Stage s covers images [end(s - 1), end(s)) with end(s) = (s // 2 + 1) S + ((s + 1) // 2) T
    (S, T: stable / transition images, 800k each: s covers [0.8M s, 0.8M (s + 1))), and the
    last stage runs on to total_num_images and beyond. At a transition stage s = 2k + 1,
    alpha = p - k = (images_seen - end(s - 1)) / T, the fade-in weight of block k + 2; at a
    stable stage alpha = 1.0 (the newest block is fully in; the modules ignore it).
    Not progressive: always (last stage, 1.0).
    """
    if not cfg.progressive:
        return cfg.num_stages - 1, 1.0
    i = int(images_seen)
    if i < 0:
        raise ValueError(f"images_seen must be >= 0, got {images_seen}")
    ends = stage_ends(cfg)
    stage = next((s for s, end in enumerate(ends) if i < end), cfg.num_stages - 1)
    return stage, float(stage_alpha(cfg, stage, i))


def stage_alpha(cfg: GANSynthConfig, stage: int, images_seen):
    """alpha of `stage` (static) after `images_seen` images; a traced count gives a traced
    alpha, so the train step computes it from its own step counter."""
    if stage % 2 == 0:
        return 1.0
    start = _stage_end(cfg, stage - 1)
    return jnp.clip((images_seen - start) / cfg.transition_stage_num_images, 0.0, 1.0)


def _progress_at(stage: int, alpha):
    """p of the modules: stage // 2 (+ alpha at transitions)."""
    return stage // 2 + alpha if stage % 2 else float(stage // 2)


def generator_alpha(block: int, p):
    """Weight of block b's output in G and in `blend_images`: max(0, min(p - (b - 2), b - p))."""
    return jnp.maximum(0.0, jnp.minimum(p - (block - 2), block - p))


def discriminator_alpha(block: int, p):
    """Weight of block b's from_rgb input in D's blend: clip(b - p, 0, 1)."""
    return jnp.clip(block - p, 0.0, 1.0)


# ----------------------------------------------------------------------------
# Layers (gansynth.md §2.3)


def he_scale(fan_in: int, slope: float) -> float:
    """Equalised-LR runtime scale sqrt(2 / ((1 + slope^2) fan_in)) (TF-GAN `_he_scale`)."""
    return math.sqrt(2.0 / ((1.0 + slope ** 2) * fan_in))


def lrelu(x):
    return jax.nn.leaky_relu(x, LRELU_SLOPE)


def pixel_norm(x, eps: float = PIXEL_NORM_EPS):
    """x / sqrt(mean over channels (last axis) of x^2 + eps)."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def upscale(x_BxHxWxC, scale: int):
    """Nearest-neighbour ("box") upscaling by `scale` on both spatial axes."""
    if scale == 1:
        return x_BxHxWxC
    return jnp.repeat(jnp.repeat(x_BxHxWxC, scale, axis=1), scale, axis=2)


def downscale(x_BxHxWxC, scale: int):
    """scale x scale average pooling, stride scale, 'VALID'."""
    if scale == 1:
        return x_BxHxWxC
    b, h, w, c = x_BxHxWxC.shape
    return x_BxHxWxC.reshape(b, h // scale, scale, w // scale, scale, c).mean(axis=(2, 4))


_kernel_init = nn.initializers.normal(stddev=1.0)   # N(0, 1); the scale is applied at run time


class EqConv(nn.Module):
    """Equalised-LR conv (TF-GAN `custom_conv2d`): y = conv(x, w * he_scale) + b.

    Kernel `[kh, kw, C_in, C_out]` (TF layout) ~ N(0, 1), bias zero. `slope` is the
    reference's `he_initializer_slope`: 0 for lrelu-followed hidden convs, 1 (TF default) else.
    """
    features: int
    kernel_size: tuple[int, int] = (3, 3)
    slope: float = 1.0
    padding: str = "SAME"
    double_grad: bool = True        # False: only ever differentiated once (G), see below

    @nn.compact
    def __call__(self, x_BxHxWxC):
        kh, kw = self.kernel_size
        cin = x_BxHxWxC.shape[-1]
        w = self.param("kernel", _kernel_init, (kh, kw, cin, self.features))
        b = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        w = w * he_scale(kh * kw * cin, self.slope)
        # layers.py's stride-1 convs: their hand-written VJP keeps the gradient penalty's
        # double backward on XLA:CPU's fast paths. Measured on the full train step (2-core
        # CPU, batch 8): 48 s instead of 175 s at stage 6, 5.7 s instead of 12 s for the
        # small preset at stage 12.
        # G is never differentiated twice, and XLA's own first-order conv gradient is
        # 1.3-3.6x faster than that VJP (2-core CPU, widths 8-256), so G uses plain convs.
        w = w.astype(x_BxHxWxC.dtype)
        if self.padding == "VALID" and x_BxHxWxC.shape[1:3] == (kh, kw):
            # D's last conv covers its whole input: a dense layer, and as a matmul its
            # gradients avoid a conv with kh * kw taps (128 at a start of 8x16).
            y = jnp.einsum("bhwc,hwco->bo", x_BxHxWxC, w)[:, None, None, :]
        elif not self.double_grad:
            y = jax.lax.conv_general_dilated(x_BxHxWxC, w, (1, 1), self.padding,
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
        elif self.padding == "SAME":
            y = layers.conv_same(x_BxHxWxC, w)
        else:
            y = layers.conv_valid(x_BxHxWxC, w)
        return y + b.reshape(1, 1, 1, -1)


class EqLatentConv(nn.Module):
    """G's first layer: a kh x kw 'VALID' conv on the 1x1 input zero-padded by (kh - 1, kw - 1).

    Only the centre of the padded input is non-zero, so out[i, j] = sum_c x_c K[kh-1-i, kw-1-j, c]:
    a dense layer with a flipped kernel, computed as one (32x cheaper) einsum. fan_in = kh kw C.
    """
    features: int
    kernel_size: tuple[int, int]
    slope: float = 0.0

    @nn.compact
    def __call__(self, x_BxC):
        kh, kw = self.kernel_size
        cin = x_BxC.shape[-1]
        w = self.param("kernel", _kernel_init, (kh, kw, cin, self.features))
        b = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        w = w[::-1, ::-1] * he_scale(kh * kw * cin, self.slope)
        return jnp.einsum("bc,hwco->bhwo", x_BxC, w) + b.reshape(1, 1, 1, -1)


class EqDense(nn.Module):
    """Equalised-LR dense (TF-GAN `custom_dense`, slope 1 by default): x @ (w * scale) + b."""
    features: int
    slope: float = 1.0

    @nn.compact
    def __call__(self, x_BxC):
        cin = x_BxC.shape[-1]
        w = self.param("kernel", _kernel_init, (cin, self.features))
        b = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return x_BxC @ (w * he_scale(cin, self.slope)) + b.reshape(1, -1)


# ----------------------------------------------------------------------------
# Pitch templates (not in the paper)


@functools.lru_cache(maxsize=8)
def pitch_templates(cfg: GANSynthConfig) -> np.ndarray:
    """[pitches, H, W, C]: D's input (`encode`) for a steady harmonic tone at each pitch,
    partials 1/k up to Nyquist, peak 1 -- what the representation makes of the pitch alone.

    With `model.pitch_template`, G's convs read it as more channels, as a neural
    source-filter vocoder reads a sine excitation made from f0 (Wang et al. 2019): placing
    energy where the template has partials is a local rule, the same for every pitch, where
    the one-hot input leaves G to learn 61 placements from the data. Below ~MIDI 36 the
    partials are closer than the quick preset's mel bins (~MIDI 44 at 64x128); there the
    pitch shows in the template as the frames' beating (IF and magnitude over time), which
    is why the template keeps its time axis.
    """
    t_T = np.arange(cfg.slice_len) / cfg.sample_rate
    f0_P = 440.0 * 2.0 ** ((np.arange(cfg.pitch_min, cfg.pitch_max + 1) - 69) / 12)
    tone_PxT = np.zeros((cfg.num_pitches, cfg.slice_len))
    for k in range(1, int(cfg.sample_rate / 2 / f0_P.min()) + 1):
        audible_P = k * f0_P < cfg.sample_rate / 2
        tone_PxT += audible_P[:, None] / k * np.sin(2 * np.pi * k * f0_P[:, None] * t_T)
    tone_PxT /= np.abs(tone_PxT).max(axis=1, keepdims=True)
    with jax.ensure_compile_time_eval():
        return np.asarray(encode(cfg, jnp.asarray(tone_PxT[..., None], jnp.float32)))


def with_template(x_BxHxWxC, template_BxNxFxC):
    """x with the template, average-pooled to x's resolution, as more channels."""
    t = downscale(template_BxNxFxC, template_BxNxFxC.shape[1] // x_BxHxWxC.shape[1])
    return jnp.concatenate([x_BxHxWxC, t.astype(x_BxHxWxC.dtype)], axis=-1)


# ----------------------------------------------------------------------------
# Networks (gansynth.md §2.4, §2.5)


class Generator(nn.Module):
    """(z [B, 256], one-hot pitch [B, 61], alpha) -> normalised spectrogram [B, 128, 1024, C].

    `stage` (static; None = the last) selects the blocks, `alpha` (traced) the fade-in at
    transition stages. Always full resolution: each block's tanh to_rgb is nearest-upscaled
    to 128x1024 and weighted by `generator_alpha`. `train` is unused (no batch norm).
    """
    cfg: GANSynthConfig
    stage: int | None = None

    @nn.compact
    def __call__(self, z_BxZ, pitch_BxP, alpha=1.0, train: bool = False):
        c = self.cfg
        stage = _resolve_stage(c, self.stage)
        p = _progress_at(stage, alpha)
        # init builds every block so one parameter tree serves all stages; the extra
        # blocks get weight 0 and do not change the output.
        n = c.num_resolutions if self.is_initializing() else stage_num_blocks(stage)
        k = (c.kernel_size, c.kernel_size)
        if c.pitch_template == "none":
            template = lambda x: x   # noqa: E731
        else:
            t_BxNxFxC = jnp.einsum("bp,pnfc->bnfc", pitch_BxP.astype(jnp.float32),
                                   pitch_templates(c))
            template = lambda x: with_template(x, t_BxNxFxC)   # noqa: E731
        pitch_BxP = c.pitch_gain * pitch_BxP.astype(z_BxZ.dtype)
        x = pixel_norm(jnp.concatenate([z_BxZ, pitch_BxP], axis=-1))
        out = None
        for b in range(1, n + 1):
            if b == 1:
                x = EqLatentConv(num_filters(c, 1), (c.start_height, c.start_width),
                                 name="block_1_conv0")(x)
            else:
                x = upscale(x, 2)
                x = EqConv(num_filters(c, b), k, slope=0.0, double_grad=False,
                           name=f"block_{b}_conv0")(template(x))
            x = pixel_norm(lrelu(x))
            x = pixel_norm(lrelu(EqConv(num_filters(c, b), k, slope=0.0, double_grad=False,
                                        name=f"block_{b}_conv1")(template(x))))
            rgb = jnp.tanh(EqConv(c.channels, (1, 1), slope=1.0, double_grad=False,
                                  name=f"block_{b}_to_rgb")(x))
            term = generator_alpha(b, p) * upscale(rgb, 2 ** (c.num_resolutions - b))
            out = term if out is None else out + term
        return out


class Discriminator(nn.Module):
    """Normalised spectrogram [B, 128, 1024, C] -> (WGAN logits [B], pitch logits [B, 61]);
    the pitch logits are [B, 122] with ADC-GAN's heads and absent with "projection".

    `stage` (static; None = the last) and `alpha` (traced) as in `Generator`. The input is
    always full resolution; block b sees it box-downscaled by 2^(7 - b).
    """
    cfg: GANSynthConfig
    stage: int | None = None

    @nn.compact
    def __call__(self, x_BxHxWxC, alpha=1.0, label_B=None):
        """label_B [B]: the pitch classes of x, read only by a `class_head` with a projection."""
        c = self.cfg
        stage = _resolve_stage(c, self.stage)
        p = _progress_at(stage, alpha)
        # As in G, init builds all blocks: the extra ones enter with blend weight exactly 1
        # on the lower from_rgb, i.e. are discarded.
        n = c.num_resolutions if self.is_initializing() else stage_num_blocks(stage)
        k = (c.kernel_size, c.kernel_size)
        if c.pitch_template == "g+d":
            # D reads the template of the pitch x is labelled with, beside x, so it can check
            # the partials against the asked pitch locally.
            x_BxHxWxC = with_template(
                x_BxHxWxC, jnp.asarray(pitch_templates(c))[label_B])
        lods = {b: lrelu(EqConv(num_filters(c, b), (1, 1), slope=0.0, name=f"block_{b}_from_rgb")(
                    downscale(x_BxHxWxC, 2 ** (c.num_resolutions - b))))
                for b in range(n, 0, -1)}
        h = lods[n]
        for b in range(n, 1, -1):
            h = lrelu(EqConv(num_filters(c, b), k, slope=0.0, name=f"block_{b}_conv0")(h))
            h = lrelu(EqConv(num_filters(c, b - 1), k, slope=0.0, name=f"block_{b}_conv1")(h))
            h = downscale(h, 2)
            a = discriminator_alpha(b - 1, p)
            h = a * lods[b - 1] + (1.0 - a) * h
        h = layers.concat_minibatch_stddev(h, eps=MBSTD_EPS)   # group: the whole batch
        h = lrelu(EqConv(num_filters(c, 1), k, slope=0.0, name="block_1_conv0")(h))
        h = lrelu(EqConv(num_filters(c, 0), (c.start_height, c.start_width), slope=0.0,
                         padding="VALID", name="block_1_conv1")(h))
        last_BxC = h.reshape(h.shape[0], -1)
        logits = EqDense(1, name="logits")(last_BxC)[:, 0]
        projection, per_class = CLASS_HEADS[c.class_head]
        if projection:
            logits = logits + layers.class_projection(last_BxC, label_B, c.num_pitches)
        if not per_class:
            return logits
        return logits, EqDense(per_class * c.num_pitches, name="classification_logits")(last_BxC)


def blend_images(cfg: GANSynthConfig, x_BxHxWxC, stage: int | None, alpha=1.0):
    """Real data as G would emit it at (stage, alpha) (TF-GAN `blend_images`, §2.5).

    sum_b generator_alpha(b, p) upscale(downscale(x, s_b), s_b) with s_b = 2^(7 - b):
    blocky at the stage's resolution, identity at the last stage.
    """
    stage = _resolve_stage(cfg, stage)
    p = _progress_at(stage, alpha)
    out = None
    for b in range(1, stage_num_blocks(stage) + 1):
        s = 2 ** (cfg.num_resolutions - b)
        term = generator_alpha(b, p) * upscale(downscale(x_BxHxWxC, s), s)
        out = term if out is None else out + term
    return out


# ----------------------------------------------------------------------------
# Latents and pitch conditioning (gansynth.md §2.4)


def sample_latent(cfg: GANSynthConfig, key, n: int):
    """z ~ N(0, I_latent_dim), as `tf.random_normal`."""
    return jax.random.normal(key, (n, cfg.latent_dim))


def pitch_histogram(cfg: GANSynthConfig, midi) -> np.ndarray:
    """Counts per pitch class (for `sample_pitch`); pitches outside the range are ignored."""
    idx = np.asarray(midi, np.int64) - cfg.pitch_min
    idx = idx[(idx >= 0) & (idx < cfg.num_pitches)]
    return np.bincount(idx, minlength=cfg.num_pitches).astype(np.float32)


def sample_pitch(cfg: GANSynthConfig, key, n: int, counts_P=None):
    """n MIDI pitches for fake examples: drawn from the training pitch histogram `counts_P`
    (the reference's `tf.multinomial` on its hard-coded counts), or uniform when None."""
    if counts_P is None:
        idx = jax.random.randint(key, (n,), 0, cfg.num_pitches)
    else:
        logits = jnp.log(jnp.asarray(counts_P, jnp.float32))
        idx = jax.random.categorical(key, logits, shape=(n,))
    return idx + cfg.pitch_min


# ----------------------------------------------------------------------------
# Representation (gansynth.md §1)


def norm_scale(cfg: GANSynthConfig):
    """Per-channel a of the normalisation, shape [C]: d(normalised)/d(raw).

    The reference's gradient penalty differentiates D w.r.t. the raw spectrogram; that
    gradient is ours (w.r.t. the normalised input) times this, wherever the clip is inactive.
    """
    return jnp.asarray([cfg.mag_norm_scale, cfg.if_norm_scale][:cfg.channels], jnp.float32)


def _norm_shift(cfg: GANSynthConfig):
    return jnp.asarray([cfg.mag_norm_shift, cfg.if_norm_shift][:cfg.channels], jnp.float32)


def normalize(cfg: GANSynthConfig, raw_BxNxFxC):
    """clip(a x + b, -1, 1) per channel (`specgrams_prespecified_normalizer`)."""
    a, b = norm_scale(cfg).reshape(1, 1, 1, -1), _norm_shift(cfg).reshape(1, 1, 1, -1)
    return jnp.clip(a * raw_BxNxFxC + b, -1.0, 1.0)


def denormalize(cfg: GANSynthConfig, x_BxNxFxC):
    """(x - b) / a per channel."""
    a, b = norm_scale(cfg).reshape(1, 1, 1, -1), _norm_shift(cfg).reshape(1, 1, 1, -1)
    return (x_BxNxFxC - b) / a


def _spec_kwargs(cfg: GANSynthConfig) -> dict:
    return dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, sample_rate=cfg.sample_rate,
                log_eps=cfg.log_eps)


def features(cfg: GANSynthConfig, audio_BxT):
    """Unnormalised features [B, T, F, C] of the configured representation."""
    spec = spectral.gansynth_specgram(audio_BxT, n_frames=cfg.final_height,
                                      mel=cfg.representation == "mel_if", **_spec_kwargs(cfg))
    return spec[..., :1] if cfg.representation == "mag" else spec


def encode(cfg: GANSynthConfig, audio_BxTx1, stats=None):
    """Audio [B, slice_len, 1] -> D's input, normalised [B, 128, 1024, C] in [-1, 1].

    Mono only (the reference's data are mono); `stats` is unused (fixed constants, §1.6).
    """
    return normalize(cfg, features(cfg, audio_BxTx1[..., 0]))


def decode(cfg: GANSynthConfig, spec_BxNxFxC, stats=None):
    """Normalised spectrogram (G's output) -> audio [B, slice_len, 1].

    "mel_if" / "if": the reference inverse (mel -> linear with M2L, cumsum IF, ISTFT).
    "mag": Griffin-Lim from zero phase on the front-padded frame grid, which then drops
    the padding: `griffin_lim_iters` iterations of fast GL (momentum 0.99, librosa's default).
    """
    raw = denormalize(cfg, spec_BxNxFxC)
    if cfg.representation != "mag":
        wave = spectral.gansynth_wave(raw, length=cfg.slice_len,
                                      mel=cfg.representation == "mel_if", **_spec_kwargs(cfg))
        return wave[..., None]
    mag_BxFxN = jnp.swapaxes(jnp.exp(raw[..., 0]), -1, -2)
    mag_BxFxN = jnp.pad(mag_BxFxN, [(0, 0), (1, 0), (0, 0)])     # zero DC bin
    front = spectral.gansynth_front_padding(cfg.slice_len, n_fft=cfg.n_fft,
                                            hop_length=cfg.hop_length, n_frames=cfg.final_height)
    wave = spectral.griffin_lim(mag_BxFxN, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                center=False, n_iter=cfg.griffin_lim_iters,
                                momentum=cfg.griffin_lim_momentum, init="zeros",
                                length=front + cfg.slice_len)
    return wave[:, front:, None]


def compute_stats(cfg: GANSynthConfig, dataset) -> dict:
    """The training pitch histogram, from which fake pitches are drawn (§2.4).

    The normalisation constants are fixed (§1.6), so this is the only dataset statistic;
    it is checkpointed with the run, so sampling never needs the data.
    """
    return {"pitch_counts": pitch_histogram(cfg, np.asarray(dataset.labels) + cfg.pitch_min)}


def sample_labels(cfg: GANSynthConfig, key, n: int, stats):
    """Pitch classes (MIDI - pitch_min) for n fake examples, from the training histogram."""
    return sample_pitch(cfg, key, n, stats.get("pitch_counts")) - cfg.pitch_min


def gp_scale(cfg: GANSynthConfig):
    """Per-channel d(D input)/d(GP input): `norm_scale` for the reference's raw space."""
    return norm_scale(cfg) if cfg.gp_space == "raw" else None
