"""The stride-1 ("phase") convolutions equal Flax's strided/transposed ones, value and gradient."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import layers

CASES = [  # (kernel, stride, input shape [B, *L, C]) -- WaveGAN, its stride-2 layer, SpecGAN
    ((25,), (4,), (2, 32, 3)),
    ((25,), (4,), (2, 16, 3)),    # 4 positions at the low rate: its padding kept unfused
    ((25,), (4,), (2, 512, 3)),   # longer than layers.SMALL_INPUT: the other kernel gradient
    ((25,), (2,), (2, 16, 3)),
    ((5, 5), (2, 2), (2, 8, 4, 3)),
]


def _close(a, b, rtol=1e-5):
    scale = float(jnp.max(jnp.abs(b))) + 1e-12
    assert float(jnp.max(jnp.abs(a - b))) <= rtol * scale


@pytest.mark.parametrize("k,s,shape", CASES)
def test_strided_conv_equals_flax(k, s, shape):
    x = jax.random.normal(jax.random.key(0), shape)
    ref = nn.Conv(5, k, strides=s, padding="SAME")
    v = ref.init(jax.random.key(1), x)
    ours = layers.Conv(5, k, strides=s, impl="phase")
    _close(ours.apply(v, x), ref.apply(v, x))
    # Gradients w.r.t. input and kernel: the backward pass is where the D step gains.
    loss = lambda m: lambda v, x: jnp.sum(jnp.sin(m.apply(v, x)))
    g_ref = jax.grad(loss(ref), argnums=(0, 1))(v, x)
    g_ours = jax.grad(loss(ours), argnums=(0, 1))(v, x)
    jax.tree.map(_close, g_ours, g_ref)


@pytest.mark.parametrize("k,s,shape", CASES)
def test_transposed_conv_equals_flax(k, s, shape):
    x = jax.random.normal(jax.random.key(0), shape)
    ref = nn.ConvTranspose(5, k, strides=s, padding="SAME", transpose_kernel=True)
    v = ref.init(jax.random.key(1), x)
    for impl in ("phase", "xla"):
        ours = layers.UpConv(5, k, s, mode="zeros", impl=impl)
        out = ours.apply(v, x)
        assert out.shape == (shape[0], *(d * st for d, st in zip(shape[1:-1], s)), 5)
        _close(out, ref.apply(v, x))
        loss = lambda m: lambda v, x: jnp.sum(jnp.sin(m.apply(v, x)))
        jax.tree.map(_close, jax.grad(loss(ours), argnums=(0, 1))(v, x),
                     jax.grad(loss(ref), argnums=(0, 1))(v, x))


@pytest.mark.parametrize("k,s,shape", CASES)
def test_nearest_upsample_conv_equals_repeat_then_conv(k, s, shape):
    x = jax.random.normal(jax.random.key(0), shape)
    up = x
    for axis, st in enumerate(s, start=1):
        up = jnp.repeat(up, st, axis=axis)
    ref = nn.Conv(5, k, padding="SAME")
    v = ref.init(jax.random.key(1), up)
    _close(layers.UpConv(5, k, s, mode="nn", impl="phase").apply(v, x), ref.apply(v, up))


@pytest.mark.parametrize("k,s", [((25,), (4,)), ((25,), (2,)), ((5, 5), (2, 2))])
def test_balanced_transposed_conv_has_no_stride_pattern(k, s):
    """A constant input through a "balanced" transposed conv comes out constant (away from
    the edges), where the plain one of the same kernel repeats a pattern of period s; the
    balanced layer is the plain one applied to `balance_phases`'s kernel, a projection."""
    x = jnp.ones((1, *(16,) * len(s), 3))
    v = layers.UpConv(5, k, s, mode="zeros").init(jax.random.key(1), x)
    inner = (0,) + (slice(max(k) // 2 + max(s), -(max(k) // 2 + max(s))),) * len(s)
    spread = lambda y: float(jnp.max(jnp.std(y[inner].reshape(-1, 5), axis=0)))
    assert spread(layers.UpConv(5, k, s, mode="zeros").apply(v, x)) > 0.1
    balanced = layers.balance_phases(v["params"]["kernel"], s)
    _close(layers.balance_phases(balanced, s), balanced)
    for impl in ("phase", "xla"):
        y = layers.UpConv(5, k, s, mode="balanced", impl=impl).apply(v, x)
        assert spread(y) < 1e-5
        ref = layers.UpConv(5, k, s, mode="zeros", impl=impl).apply(
            {"params": {**v["params"], "kernel": balanced}}, x)
        _close(y, ref)


def test_tf_same_alignment_of_transposed_conv():
    """A unit impulse through a k=25, s=4 transposed conv lands where TF puts it (10/11 split)."""
    x = jnp.zeros((1, 8, 1)).at[0, 3, 0].set(1.0)
    w = jnp.arange(1.0, 26.0).reshape(25, 1, 1)
    y = layers.conv_transpose(x, w, (4,))[0, :, 0]
    # Input sample 3 contributes kernel tap j to output n = 3 * 4 + j - 10.
    expected = np.zeros(32)
    for j in range(25):
        if 0 <= 2 + j < 32:
            expected[2 + j] = j + 1
    np.testing.assert_allclose(np.asarray(y), expected, atol=1e-5)


def test_space_to_depth_round_trip():
    x = jax.random.normal(jax.random.key(0), (2, 8, 12, 3))
    s2d = layers.space_to_depth(x, (2, 4))
    assert s2d.shape == (2, 4, 3, 24)
    np.testing.assert_array_equal(layers.depth_to_space(s2d, (2, 4)), x)


@pytest.mark.parametrize("per_example", [False, True])
def test_phase_shuffle_matches_reference_semantics(per_example):
    """out[t] = x[t - s] with numpy 'reflect' at the edges, s in [-rad, rad]."""
    rad = 2
    x = jax.random.normal(jax.random.key(0), (16, 10, 3))
    y = np.asarray(layers.phase_shuffle(x, jax.random.key(3), rad, per_example=per_example))
    xn = np.asarray(x)
    shifts = []
    for b in range(16):
        cands = [s for s in range(-rad, rad + 1)
                 if np.allclose(y[b], np.pad(xn[b], ((rad, rad), (0, 0)), mode="reflect")
                                [rad - s: rad - s + 10])]
        assert len(cands) >= 1
        shifts.append(cands[0])
    if per_example:
        assert len(set(shifts)) > 1        # independent shifts per example
    else:
        assert len(set(shifts)) == 1       # one shift for the whole batch, as the reference


def test_phase_shuffle_radius_zero_is_identity():
    x = jnp.ones((2, 5, 1))
    assert layers.phase_shuffle(x, jax.random.key(0), 0) is x


@pytest.mark.parametrize("k,s,shape", CASES)
def test_double_backward_equals_flax(k, s, shape):
    """The WGAN-GP penalty differentiates D's input gradient w.r.t. D's kernels: the custom
    VJP of the stride-1 conv must give the same second-order gradients as Flax's conv."""
    x = jax.random.normal(jax.random.key(0), shape)
    ref = nn.Conv(5, k, strides=s, padding="SAME")
    v = ref.init(jax.random.key(1), x)
    ours = layers.Conv(5, k, strides=s, impl="phase")

    def penalty(m):
        def f(v, x):
            g = jax.grad(lambda x: jnp.sum(jnp.sin(m.apply(v, x))))(x)
            return jnp.sum(g ** 2)
        return f

    jax.tree.map(_close, jax.grad(penalty(ours), argnums=(0, 1))(v, x),
                 jax.grad(penalty(ref), argnums=(0, 1))(v, x))


def test_minibatch_stddev_per_group_of_consecutive_examples():
    x = np.random.default_rng(0).standard_normal((8, 5, 3)).astype(np.float32)
    want = np.repeat([np.sqrt(x[i:i + 4].var(axis=0) + 1e-8).mean() for i in (0, 4)], 4)
    np.testing.assert_allclose(layers.minibatch_stddev(x, 4), want, rtol=1e-5)
    y = np.asarray(layers.concat_minibatch_stddev(x, 4))
    assert y.shape == (8, 5, 4)
    np.testing.assert_array_equal(y[..., :3], x)
    np.testing.assert_allclose(y[..., 3], np.broadcast_to(want[:, None], (8, 5)), rtol=1e-5)
    # A group that does not divide the batch shrinks: 6 examples in groups of gcd(6, 4) = 2.
    np.testing.assert_allclose(layers.minibatch_stddev(x[:6], 4)[:2],
                               np.sqrt(x[:2].var(axis=0) + 1e-8).mean(), rtol=1e-5)
    # Identical examples in a group: the statistic is sqrt(eps), whatever the others do.
    same = np.concatenate([np.repeat(x[:1], 4, 0), x[4:]])
    np.testing.assert_allclose(layers.minibatch_stddev(same, 4)[:4], 1e-4, rtol=1e-3)


def test_spectral_normalize_gives_unit_top_singular_value():
    rng = np.random.default_rng(0)
    for shape in [(5, 5, 16, 32), (25, 1, 16), (2048, 1), (64, 10)]:
        w = jnp.asarray(rng.standard_normal(shape) * 0.1, jnp.float32)
        sn = np.asarray(layers.spectral_normalize(w)).reshape(-1, shape[-1])
        # Power iteration under-estimates sigma: a little above 1 for random matrices, whose
        # top singular values are close together (trained kernels converge faster).
        assert 1.0 - 1e-5 <= np.linalg.svd(sn, compute_uv=False)[0] <= 1.1, shape
    # The layers use it only when asked: same parameters, outputs scaled by 1 / sigma.
    x = jnp.asarray(rng.standard_normal((2, 16, 3)), jnp.float32)
    plain, sn = layers.Conv(4, (5,), (2,)), layers.Conv(4, (5,), (2,), spectral_norm=True)
    v = plain.init(jax.random.key(0), x)
    w = np.asarray(v["params"]["kernel"]).reshape(-1, 4)
    sigma = np.linalg.svd(w, compute_uv=False)[0]
    ratio = np.asarray(plain.apply(v, x)) / np.asarray(sn.apply(v, x))
    assert np.allclose(ratio, ratio.flat[0], rtol=1e-4) and sigma / 1.1 <= ratio.flat[0] <= sigma + 1e-5
