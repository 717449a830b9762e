"""Presets, one module per model: `get_config(preset)` returns a `gan_jax.config.Config`.

Each module's docstring gives, per preset, the command that runs it and what to expect.
"""

import dataclasses
import importlib

import jax


def get_config(model: str, preset: str = "auto"):
    """The preset `preset` of `model`; "auto" is "reference" on a GPU/TPU, else "quick"."""
    try:
        module = importlib.import_module(f"configs.{model}")
    except ModuleNotFoundError:
        raise ValueError(f"no presets for model {model!r} (configs/{model}.py)") from None
    if preset == "auto":
        preset = "quick" if jax.default_backend() == "cpu" else "reference"
    if preset not in module.PRESETS:
        raise ValueError(f"unknown preset {preset!r} for {model}; "
                         f"available: {', '.join(module.PRESETS)}")
    return preset, module.PRESETS[preset]()


def conditional(cfg, num_classes: int = 10, truncation: float = 0.6, d_ac_weight: float = 3.0):
    """A quick preset made class-conditional, the recipe with the best quick SpecGAN and
    WaveGAN scores (benchmarks/QUALITY.md). G is asked for a class drawn uniformly (FSDD's
    and SC09's ten digits, the embedded set's ten sounds), so every class is asked for; D
    has a projection head and an auxiliary classifier (AC weight 3 on real data in D, 1 on
    fakes in G: with 10 in G, G learnt to fool D's classifier; with 10 in D, two seeds in
    three collapsed onto one digit); DiffAugment (translation, cutout) on D's inputs,
    against a D that learns 2,700 training clips by heart; samples drawn with truncation
    0.6: SpecGAN quick's mean IS over six seeds at 0.5 / 0.6 / 0.7 was 6.04 / 5.85 / 5.63 on
    FSDD and 5.61 / 5.71 / 5.80 on the embedded set (5.89 as drawn); 0.6 keeps five FSDD
    seeds and all six embedded ones over 5. Unlabelled data needs model.num_classes=0."""
    return dataclasses.replace(
        cfg, truncation=truncation,
        model=dataclasses.replace(cfg.model, num_classes=num_classes, class_head="projection+ac"),
        train=dataclasses.replace(cfg.train, d_ac_weight=d_ac_weight, g_ac_weight=1.0,
                                  diffaug="translation,cutout"))


def small(cfg, dim: int = 16, batch_size: int = 16):
    """The `small` CPU preset of a reference config: narrower nets, smaller batches, and
    logs, samples and checkpoints often enough to watch a short run."""
    return dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, dim=dim),
        train=dataclasses.replace(cfg.train, batch_size=batch_size, steps=20_000, log_every=20,
                                  sample_every=200, ckpt_every=200))


def quick(cfg, *, steps: int, dim: int = 16, batch_size: int = 32, slice_len: int = 8192,
          r1_weight: float = 1.0, lr: float = 2e-4, d_lr: float = 2e-4, ema: float = 0.99):
    """The `quick` CPU preset of a WaveGAN/SpecGAN reference config: 8 kHz (8192 samples),
    the non-saturating loss with a lazy R1 penalty and one D step per G step instead of
    WGAN-GP with five, learning rates that fall linearly to 0 over the budget (at a constant
    rate the scores peaked and fell back), and an EMA of G for sampling -- a recipe that
    learns in a CPU half hour (configs/wavegan.py, configs/specgan.py give the measured
    scores)."""
    return dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, dim=dim, slice_len=slice_len),
        data=dataclasses.replace(cfg.data, sample_rate=8000),
        train=dataclasses.replace(
            cfg.train, loss="non-saturating", r1_weight=r1_weight, r1_every=4, n_critic=1,
            batch_size=batch_size, lr=lr, d_lr=d_lr, lr_decay_steps=steps, b1=0.5, b2=0.99,
            ema=ema, steps=steps, log_every=20, sample_every=500, ckpt_every=500))
