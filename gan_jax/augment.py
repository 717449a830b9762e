"""Differentiable augmentation of D's inputs (DiffAugment, Zhao et al. 2020): not in the papers.

With little data (FSDD's train split is 2,700 clips) D learns the training set by heart and
G chases it. DiffAugment applies the same random, differentiable transforms to real and fake
inputs of D, in every D and G update, so D cannot memorise the exact clips and G's gradient
still passes through. `train.diffaug` lists them, comma-separated:
- "translation": each example shifted along time (axis 1 of every model's D input: samples,
  frames) by up to 1/8 of its length, zero-filled (DiffAugment's ratio);
- "cutout": a zeroed window of half of each of the input's spatial sizes (time for WaveGAN,
  time and frequency for SpecGAN/GANSynth), at a random place per example (DiffAugment's
  ratio).
Zero is silence for audio and the mean for normalised spectrograms.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2
POLICIES = ("translation", "cutout")


def parse(policy: str) -> tuple[str, ...]:
    """"translation,cutout" -> ("translation", "cutout"); "" -> (). Raises on unknown names."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    for name in names:
        if name not in POLICIES:
            raise ValueError(f"train.diffaug: unknown augmentation {name!r}; choose from "
                             f"{', '.join(POLICIES)}, comma-separated")
    return names


def translate(x, key, ratio: float = TRANSLATION_RATIO):
    """x [B, T, ...] shifted by a per-example s in [-ratio T, ratio T] along T, zero-filled."""
    b, t = x.shape[:2]
    r = int(t * ratio)
    shift_B = jax.random.randint(key, (b,), -r, r + 1)
    src_BxT = jnp.arange(t)[None] - shift_B[:, None]
    valid_BxT = (src_BxT >= 0) & (src_BxT < t)
    idx = jnp.clip(src_BxT, 0, t - 1).reshape(b, t, *(1,) * (x.ndim - 2))
    out = jnp.take_along_axis(x, jnp.broadcast_to(idx, x.shape), axis=1)
    return out * valid_BxT.reshape(idx.shape).astype(x.dtype)


def cutout(x, key, ratio: float = CUTOUT_RATIO):
    """x [B, *spatial, C] with a zeroed window of ratio * size on every spatial axis, per
    example at a random place (its centre anywhere, so the window is clipped at the edges)."""
    b, spatial = x.shape[0], x.shape[1:-1]
    cut = jnp.ones(x.shape[:-1], bool)
    for axis, (n, k) in enumerate(zip(spatial, jax.random.split(key, len(spatial)))):
        size = int(n * ratio + 0.5)
        start_B = jax.random.randint(k, (b,), 0, n)[:, None] - size // 2
        pos_N = jnp.arange(n)[None]
        inside_BxN = (pos_N >= start_B) & (pos_N < start_B + size)
        shape = [b] + [1] * len(spatial)
        shape[axis + 1] = n
        cut = cut & inside_BxN.reshape(shape)
    return x * (~cut)[..., None].astype(x.dtype)


def apply(names: tuple[str, ...], x, key):
    """The augmentations `names` (from `parse`) applied to x in order, each with its own key."""
    for i, name in enumerate(names):
        k = jax.random.fold_in(key, i)
        x = translate(x, k) if name == "translation" else cutout(x, k)
    return x
