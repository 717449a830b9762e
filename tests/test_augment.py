"""DiffAugment: exact shifts and windows, gradients through them, bad policies refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import augment as A


def test_translation_shifts_each_example_and_zero_fills():
    x = jnp.arange(1.0, 3 * 64 + 1).reshape(3, 64, 1)
    y = np.asarray(A.translate(x, jax.random.key(0)))
    for row, out in zip(np.asarray(x)[..., 0], y[..., 0]):
        # the one shift s in [-8, 8] that explains the row: out[t] = row[t - s], 0 outside
        matches = [s for s in range(-8, 9)
                   if np.array_equal(out, np.array([row[t - s] if 0 <= t - s < 64 else 0.0
                                                    for t in range(64)]))]
        assert len(matches) == 1
    assert not np.array_equal(y, np.asarray(x))       # some example moved


def test_cutout_zeroes_one_window_of_half_each_spatial_size():
    x = jnp.ones((4, 16, 32, 2))
    y = np.asarray(A.cutout(x, jax.random.key(1)))
    for ex in y:
        zero_t, zero_f = np.nonzero(ex[..., 0] == 0)
        assert np.array_equal(ex[..., 0], ex[..., 1])        # every channel alike
        # one rectangle, at most 8 x 16 (clipped at the edges), every cell inside it zero
        assert zero_t.size and np.ptp(zero_t) < 8 and np.ptp(zero_f) < 16
        assert zero_t.size == (np.ptp(zero_t) + 1) * (np.ptp(zero_f) + 1)
    assert (y == 0).sum() > 0.5 * 4 * 8 * 16 * 2              # most windows are not clipped


def test_gradient_flows_through_the_kept_samples():
    x = jax.random.normal(jax.random.key(2), (2, 64, 1))
    names = A.parse("translation, cutout")
    key = jax.random.key(3)
    grad = np.asarray(jax.grad(lambda v: jnp.sum(A.apply(names, v, key)))(x))
    kept = np.asarray(A.apply(names, jnp.ones_like(x), key))
    # Linear, each sample reaching the output at most once: d(sum)/dx is 1 where a sample
    # survives (as many as the output's kept cells) and 0 where it was cut or shifted out.
    assert set(np.unique(grad)) <= {0.0, 1.0} and 0 < grad.sum() < grad.size
    assert grad.sum() == kept.sum()


def test_parse():
    assert A.parse("") == ()
    assert A.parse("translation,cutout") == ("translation", "cutout")
    with pytest.raises(ValueError, match="train.diffaug: unknown augmentation 'color'"):
        A.parse("translation,color")
