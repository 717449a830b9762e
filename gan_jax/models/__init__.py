"""Model registry: each model contributes a config class, a G/D pair and a latent sampler.

The generic train step and the sampling API only talk to a `ModelDef` (through `Nets`);
adding a model means adding a module under `gan_jax/models/` and a line to `MODELS`.
Models that do not work on raw audio also give `encode` (audio -> D's input, inside the
jitted step), `decode` (G's output -> audio, inside `sample`) and `compute_stats` (dataset
statistics, computed once per run and checkpointed with it). Conditional models give
`num_classes` and `sample_labels`, pitch-conditioned ones a `pitch_range`; progressive
ones a `schedule`, `stage_alpha` and `blend_real`, and their G/D take a static `stage` and
a traced `alpha`. Every model config has `audio_channels` and `sample_rate` (None: any).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from gan_jax.models import gansynth, specgan, wavegan


def _identity(model_cfg, x, stats):
    return x


def _no_stats(model_cfg, dataset) -> dict:
    return {}


def _no_classes(model_cfg) -> int:
    return 0


def _no_labels(model_cfg, key, n, stats):
    return jnp.zeros((n,), jnp.int32)


def _d_unconditional(model_cfg) -> bool:
    return False


def _one_per_class(model_cfg) -> int:
    return 1


def _projection_head(model_cfg) -> bool:
    return wavegan.CLASS_HEADS[model_cfg.class_head][0]


def _projection(model_cfg) -> bool:
    return model_cfg.num_classes > 0 and _projection_head(model_cfg)


def _classifier(model_cfg) -> int:
    return wavegan.CLASS_HEADS[model_cfg.class_head][1]


def _not_progressive(model_cfg, images_seen):
    return None, 1.0


def _no_blend(model_cfg, x, stage, alpha):
    return x


def _no_gp_scale(model_cfg):
    return None


class ModelDef(NamedTuple):
    name: str
    config_cls: type
    generator: Callable[..., Any]          # (model config[, stage]) -> Linen G
    discriminator: Callable[..., Any]      # (model config[, stage]) -> Linen D
    sample_latent: Callable[[Any, Any, int], Any]   # (model config, key, n) -> z
    d_rngs: tuple[str, ...] = ()           # rng streams D draws from (phase shuffle)
    encode: Callable = _identity           # (model config, audio [B, T, C], stats) -> D input
    decode: Callable = _identity           # (model config, G output, stats) -> audio [B, T, C]
    compute_stats: Callable = _no_stats    # (model config, AudioDataset) -> dict of arrays
    spectrogram: bool = False              # G outputs a spectrogram (decoded to audio), not audio
    # Conditioning: G takes a one-hot label after z; a conditional D takes the labels (a
    # projection D) when d_labels, and returns (logits, class logits) when d_classifier > 0:
    # that many logits per class (1: AC-GAN, 2: ADC-GAN's real and fake copies).
    num_classes: Callable = _no_classes    # (model config) -> classes; 0 = unconditional
    sample_labels: Callable = _no_labels   # (model config, key, n, stats) -> fake labels [n]
    d_labels: Callable = _d_unconditional  # (model config) -> whether D(x, labels)
    d_classifier: Callable = _one_per_class  # (model config) -> class logits per class: 0, 1, 2
    d_label_sets: bool = False             # a projection D scores labels [B, M] in one pass
                                           #   (logits [B, M]; train.d_mismatch needs it)
    # Progressive growing: G(..., alpha) and D(x, alpha) built for a static stage.
    schedule: Callable = _not_progressive  # (model config, images seen) -> (stage | None, alpha)
    stage_alpha: Callable | None = None    # (model config, stage, images seen, traced) -> alpha
    blend_real: Callable = _no_blend       # (model config, x, stage, alpha) -> x as G emits it
    gp_scale: Callable = _no_gp_scale      # (model config) -> per-channel d(D input)/d(GP input)
    # Pitch-conditioned models: (model config) -> (lowest, highest MIDI pitch); labels are
    # pitch - lowest, and they train on pitched notes (notes.load_notes). None: no pitch.
    pitch_range: Callable | None = None


MODELS = {
    "wavegan": ModelDef("wavegan", wavegan.WaveGANConfig, wavegan.Generator,
                        wavegan.Discriminator, wavegan.sample_latent, d_rngs=("shuffle",),
                        num_classes=lambda cfg: cfg.num_classes,
                        sample_labels=wavegan.sample_labels, d_labels=_projection,
                        d_classifier=_classifier, d_label_sets=True),
    # SpecGAN is WaveGAN's G/D in 2-D (5x5, stride 2) on a normalised log spectrogram.
    "specgan": ModelDef("specgan", specgan.SpecGANConfig, wavegan.Generator,
                        wavegan.Discriminator, specgan.sample_latent, encode=specgan.encode,
                        decode=specgan.decode, compute_stats=specgan.compute_stats,
                        spectrogram=True, num_classes=lambda cfg: cfg.num_classes,
                        sample_labels=wavegan.sample_labels, d_labels=_projection,
                        d_classifier=_classifier, d_label_sets=True),
    "gansynth": ModelDef("gansynth", gansynth.GANSynthConfig, gansynth.Generator,
                         gansynth.Discriminator, gansynth.sample_latent, encode=gansynth.encode,
                         decode=gansynth.decode, compute_stats=gansynth.compute_stats,
                         spectrogram=True,
                         num_classes=lambda cfg: cfg.num_pitches,
                         # always conditional (on pitch); D reads the pitches for a
                         # projection head or the pitch template
                         d_labels=lambda cfg: (_projection_head(cfg)
                                               or cfg.pitch_template == "g+d"),
                         d_classifier=_classifier,
                         sample_labels=gansynth.sample_labels,
                         schedule=lambda cfg, images: gansynth.stage_and_alpha(images, cfg),
                         stage_alpha=gansynth.stage_alpha,
                         blend_real=gansynth.blend_images, gp_scale=gansynth.gp_scale,
                         pitch_range=lambda cfg: (cfg.pitch_min, cfg.pitch_max)),
}


def get_model(name: str) -> ModelDef:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    return MODELS[name]


PRECISIONS = {"f32": jnp.float32, "bf16": jnp.bfloat16}


def _cast(tree, dtype):
    """The floating-point leaves of `tree` as `dtype` (a no-op for float32 leaves at f32)."""
    return jax.tree.map(
        lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


class Nets(NamedTuple):
    """A model's G and D at one stage, as pure functions of (params, other variables, inputs).

    Hides the differences between models: labels are passed to G one-hot only when the
    model is conditional, alpha only when it is progressive, and D's output is always
    (logits [B], class logits [B, K] or None).

    `dtype` is the compute precision. With bfloat16 the variables and inputs are cast on
    the way in, so every conv and matmul runs in bf16, and the outputs are cast back to
    float32: parameters, optimiser state, losses and gradient penalties stay float32 (the
    casts' transposes return float32 gradients).
    """
    model: ModelDef
    cfg: Any               # the model's own config
    G: Any
    D: Any
    stage: int | None      # static stage of a progressive model, else None
    dtype: Any = jnp.float32

    @property
    def num_classes(self) -> int:
        return self.model.num_classes(self.cfg)

    @property
    def logits_per_class(self) -> int:
        """D's class logits per class: 0 (none), 1 (an auxiliary classifier), 2 (ADC-GAN)."""
        return self.model.d_classifier(self.cfg) if self.num_classes else 0

    @property
    def auxiliary_classifier(self) -> bool:
        """Whether D returns class logits (a conditional D with an auxiliary classifier)."""
        return self.logits_per_class > 0

    def _alpha(self, alpha) -> dict:
        return {} if self.stage is None else {"alpha": alpha}

    def g_inputs(self, z, labels) -> tuple:
        """G's positional inputs: z, then the one-hot label for conditional models."""
        return (z, jax.nn.one_hot(labels, self.num_classes)) if self.num_classes else (z,)

    def d_label_kw(self, labels) -> dict:
        """D's keyword for the labels [B] of x (`label_B`), read by a projection D only."""
        return {"label_B": labels} if self.model.d_labels(self.cfg) else {}

    def generate(self, g_params, g_state, z, labels, alpha=1.0, train: bool = False):
        """(G's output, G's updated non-parameter variables)."""
        args, kw = _cast(self.g_inputs(z, labels), self.dtype), self._alpha(alpha)
        variables = _cast({"params": g_params, **g_state}, self.dtype)
        if train and g_state:
            x, new_state = self.G.apply(variables, *args, train=True, mutable=list(g_state), **kw)
            return _cast(x, jnp.float32), _cast(dict(new_state), jnp.float32)
        return _cast(self.G.apply(variables, *args, train=train, **kw), jnp.float32), g_state

    def discriminate(self, d_params, d_state, x, key, alpha=1.0, labels=None):
        """labels [B]: the classes of x, read by a projection D only."""
        kw = {**self._alpha(alpha), **self.d_label_kw(labels)}
        rngs = {name: jax.random.fold_in(key, i) for i, name in enumerate(self.model.d_rngs)}
        variables = _cast({"params": d_params, **d_state}, self.dtype)
        x = _cast(x, self.dtype)
        if d_state:   # D's batch norm uses batch statistics only; its running averages are unused
            out = self.D.apply(variables, x, rngs=rngs, mutable=list(d_state), **kw)[0]
        else:
            out = self.D.apply(variables, x, rngs=rngs, **kw)
        out = _cast(out, jnp.float32)
        return out if isinstance(out, tuple) else (out, None)

    def inputs(self, key, n: int, stats):
        """Latents z [n, ...] and fake labels [n] (zeros for unconditional models)."""
        k_z, k_l = jax.random.split(key)
        return (self.model.sample_latent(self.cfg, k_z, n),
                self.model.sample_labels(self.cfg, k_l, n, stats))


def make_nets(model_name: str, model_cfg, stage: int | None = None,
              precision: str = "f32") -> Nets:
    """precision: "f32" or "bf16", the compute dtype of G and D (see `Nets`)."""
    model = get_model(model_name)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    kw = {} if stage is None else {"stage": stage}
    return Nets(model, model_cfg, model.generator(model_cfg, **kw),
                model.discriminator(model_cfg, **kw), stage, PRECISIONS[precision])
