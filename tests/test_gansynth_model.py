"""GANSynth networks, schedule and representation (gan_jax/models/gansynth.py, gansynth.md §1-§2).

Full-size networks are only traced (`jax.eval_shape`); values are checked on a narrow
config (fmap_max 8) at the full 128x1024 geometry. Real notes come from
$GAN_JAX_DATA/nsynth-gm; without it, generated harmonic notes stand in.
"""

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import cross_entropy
from gan_jax import spectral as sp
from gan_jax.models import gansynth as gs
from gan_jax.models import layers
from gan_jax.models import make_nets

FULL = gs.GANSynthConfig()
SMALL = gs.GANSynthConfig(fmap_base=256, fmap_max=8, latent_dim=8)   # widths 8 ... 8, 4, 2
B = 4
# 0.5 s at 8 kHz as 64x128 (n_fft 256): the quick preset's rate and length (it is 32x256)
GEOMETRY_64x128 = dict(sample_rate=8000, slice_len=4000, num_resolutions=4, start_height=8,
                       start_width=16, progressive=False)


def count(tree):
    return sum(leaf.size for leaf in jax.tree_util.tree_leaves(tree))


def shape_inputs(cfg, b=B):
    return (jax.ShapeDtypeStruct((b, cfg.latent_dim), jnp.float32),
            jax.ShapeDtypeStruct((b, cfg.num_pitches), jnp.float32),
            jax.ShapeDtypeStruct((b, cfg.final_height, cfg.final_width, cfg.channels), jnp.float32))


def init_shapes(cfg, stage):
    z, pch, x = shape_inputs(cfg)
    key = jax.random.key(0)
    g = jax.eval_shape(lambda k, z, p: gs.Generator(cfg, stage).init(k, z, p, 0.5), key, z, pch)
    d = jax.eval_shape(lambda k, x: gs.Discriminator(cfg, stage).init(k, x, 0.5), key, x)
    return g, d


def pitch_onehot(cfg, midi_B):
    """The one-hot G receives for MIDI pitches: labels are pitch - pitch_min (notes.py)."""
    _, onehot = make_nets("gansynth", cfg).g_inputs(None, np.asarray(midi_B) - cfg.pitch_min)
    return onehot


def stage_resolution(cfg, stage):
    """(time, freq) of the newest block's to_rgb at `stage`, traced from G itself: the finest
    detail G's full-resolution output carries."""
    z, pch, _ = shape_inputs(cfg, 1)
    g, _ = init_shapes(cfg, stage)
    _, inter = jax.eval_shape(lambda p, z, c: gs.Generator(cfg, stage).apply(
        p, z, c, 0.5, capture_intermediates=True), g, z, pch)
    rgb = {k: v["__call__"][0].shape for k, v in inter["intermediates"].items() if "to_rgb" in k}
    n = len(rgb)     # blocks in use; their to_rgb widths double from 1 to n
    assert set(rgb) == {f"block_{b}_to_rgb" for b in range(1, n + 1)}
    return rgb[f"block_{n}_to_rgb"][1:3]


# ----------------------------------------------------------------------------
# Config


@pytest.mark.parametrize("kw, field", [
    (dict(representation="phase"), "model.representation"),
    (dict(fmap_base=64), "model.fmap_base"),
    (dict(slice_len=70000), "model.slice_len"),
    (dict(total_num_images=9_000_000), "model.total_num_images"),
    (dict(kernel_size=4), "model.kernel_size"),
    (dict(pitch_min=90), "model.pitch_max"),
    (dict(start_width=12), "model.start_width"),
    (dict(pitch_gain=0.0), "model.pitch_gain"),
    (dict(pitch_template="d"), "model.pitch_template"),
])
def test_config_validation_names_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        gs.GANSynthConfig(**kw)


def test_config_defaults_are_the_reference():
    c = FULL
    assert (c.representation, c.channels, c.latent_dim, c.num_pitches) == ("mel_if", 2, 256, 61)
    assert (c.final_height, c.final_width, c.n_fft, c.hop_length) == (128, 1024, 2048, 512)
    assert c.num_stages == 13 and hash(c) == hash(gs.GANSynthConfig())
    assert [gs.num_filters(c, b) for b in range(8)] == [256] * 5 + [128, 64, 32]
    assert gs.GANSynthConfig(representation="mag").channels == 1


# ----------------------------------------------------------------------------
# Parameter counts, stage-independent trees and shapes (trace only)


@pytest.mark.parametrize("rep, n_g, n_d", [
    ("mel_if", 7_311_246, 6_831_230),   # gansynth.md §2.6: G 7,311,242 (its to_rgb sum is 4 short)
    ("if", 7_311_246, 6_831_230),
    ("mag", 7_309_991, 6_829_982),
])
def test_full_size_parameter_counts(rep, n_g, n_d):
    g, d = init_shapes(gs.GANSynthConfig(representation=rep), 0)
    assert (count(g), count(d)) == (n_g, n_d)
    if rep == "mel_if":   # the contributors listed in §2.6
        gp, dp = g["params"], d["params"]
        assert count(gp["block_1_conv0"]) == 2_597_120
        assert count(gp["block_2_conv0"]) + count(gp["block_2_conv1"]) == 1_180_160
        assert sum(count(gp[f"block_{b}_to_rgb"]) for b in range(1, 8)) == 2_510
        assert count(dp["block_1_conv1"]) == 2_097_408 and count(dp["block_1_conv0"]) == 592_384
        assert sum(count(dp[f"block_{b}_from_rgb"]) for b in range(1, 8)) == 3_744
        assert count(dp["logits"]) == 257 and count(dp["classification_logits"]) == 15_677


def test_parameter_tree_is_the_same_at_every_stage_and_shapes_per_stage():
    g_last, d_last = init_shapes(FULL, None)
    z, pch, x = shape_inputs(FULL)
    for stage in (0, 12):
        g, d = init_shapes(FULL, stage)
        assert jax.tree_util.tree_map(lambda a: a.shape, g) == \
            jax.tree_util.tree_map(lambda a: a.shape, g_last)
        assert jax.tree_util.tree_map(lambda a: a.shape, d) == \
            jax.tree_util.tree_map(lambda a: a.shape, d_last)
    for stage in range(FULL.num_stages):
        # The full tree applies at every stage; G always emits the full resolution.
        out = jax.eval_shape(lambda p, z, c, s=stage: gs.Generator(FULL, s).apply(p, z, c, 0.5),
                             g_last, z, pch)
        logits, cls = jax.eval_shape(lambda p, x, s=stage: gs.Discriminator(FULL, s).apply(p, x, 0.5),
                                     d_last, x)
        assert out.shape == (B, 128, 1024, 2)
        assert logits.shape == (B,) and cls.shape == (B, 61)


# ----------------------------------------------------------------------------
# Layers


def test_equalised_lr_dense_and_conv():
    key = jax.random.key(1)
    x = jax.random.normal(key, (3, 512))
    dense = gs.EqDense(512)
    p = dense.init(key, x)["params"]
    w = np.asarray(p["kernel"])
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1.0) < 0.01      # N(0, 1) at init
    assert not np.any(p["bias"])
    b = jnp.arange(512.0) / 512
    y = dense.apply({"params": {"kernel": p["kernel"], "bias": b}}, x)
    np.testing.assert_allclose(y, x @ (w * np.sqrt(1 / 512)) + b[None], rtol=1e-5, atol=1e-5)

    xc = jax.random.normal(key, (2, 4, 8, 5))
    conv = gs.EqConv(6, (3, 3), slope=0.0)
    pc = conv.init(key, xc)["params"]
    bc = jnp.arange(6.0)
    yc = conv.apply({"params": {"kernel": pc["kernel"], "bias": bc}}, xc)
    ref = jax.lax.conv_general_dilated(xc, pc["kernel"] * np.sqrt(2 / 45), (1, 1), "SAME",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(yc, ref + bc.reshape(1, 1, 1, -1), rtol=1e-5, atol=1e-5)
    assert gs.he_scale(45, 0.0) == pytest.approx(np.sqrt(2 / 45))
    assert gs.he_scale(45, 1.0) == pytest.approx(np.sqrt(1 / 45))


def test_pixel_norm_minibatch_stddev_and_resizing():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 3, 5)).astype(np.float32)
    np.testing.assert_allclose(gs.pixel_norm(x), x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-8),
                               rtol=1e-5)
    s = np.sqrt(x.var(axis=0) + 1e-6).mean()       # population variance over the whole batch
    np.testing.assert_allclose(layers.minibatch_stddev(x, eps=gs.MBSTD_EPS), np.full(4, s), rtol=1e-5)
    y = np.asarray(layers.concat_minibatch_stddev(x, eps=gs.MBSTD_EPS))
    assert y.shape == (4, 2, 3, 6)
    np.testing.assert_allclose(y[..., :5], x)
    np.testing.assert_allclose(y[..., 5], np.full((4, 2, 3), s), rtol=1e-5)
    up = np.asarray(gs.upscale(x, 2))
    assert up.shape == (4, 4, 6, 5) and np.array_equal(up[:, 1::2, ::2], x)
    np.testing.assert_allclose(gs.downscale(up, 2), x, rtol=1e-6)
    np.testing.assert_allclose(gs.downscale(x[:, :2, :2], 2)[:, 0, 0], x[:, :2, :2].mean((1, 2)),
                               rtol=1e-6)


def _np_conv(x, w, padding):
    """Plain NumPy 2-D conv, NHWC x HWIO, 'SAME' (odd k) or 'VALID'."""
    kh, kw = w.shape[:2]
    if padding == "SAME":
        x = np.pad(x, [(0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)])
    h, wd = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    return sum(x[:, i:i + h, j:j + wd] @ w[i, j] for i in range(kh) for j in range(kw))


def _lrelu(x):
    return np.where(x > 0, x, 0.2 * x)


def _pn(x):
    return x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-8)


def _randomise(params, seed):
    """Random non-zero biases, so bias handling is checked too."""
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree_util.tree_unflatten(tree, [
        leaf if leaf.ndim > 1 else 0.1 * jax.random.normal(k, leaf.shape)
        for leaf, k in zip(leaves, keys)])


def test_stage_0_networks_match_a_numpy_reference():
    """Layer order, the flipped 2x16 first conv and the slope-0 / slope-1 scales (§2.3-§2.5)."""
    c = SMALL
    rng = np.random.default_rng(0)
    z = rng.standard_normal((B, c.latent_dim)).astype(np.float32)
    pch = np.asarray(pitch_onehot(c, [24, 50, 60, 84]))
    x = rng.uniform(-1, 1, (B, 128, 1024, 2)).astype(np.float32)
    gp = _randomise(jax.jit(gs.Generator(c).init)(jax.random.key(0), z, pch)["params"], 1)
    dp = _randomise(jax.jit(gs.Discriminator(c).init)(jax.random.key(1), x)["params"], 2)
    gp_np = jax.tree_util.tree_map(np.asarray, gp)
    dp_np = jax.tree_util.tree_map(np.asarray, dp)

    def conv(p, h, slope, padding="SAME"):
        w = p["kernel"]
        return _np_conv(h, w * np.sqrt(2 / ((1 + slope ** 2) * np.prod(w.shape[:3]))),
                        padding) + p["bias"]

    # G: pixel norm of [z, one-hot], zero-pad 1x1 -> 3x31, 'VALID' 2x16 conv, 3x3 conv, to_rgb.
    h = _pn(np.concatenate([z, pch], -1))[:, None, None]
    h = np.pad(h, [(0, 0), (1, 1), (15, 15), (0, 0)])
    h = _pn(_lrelu(conv(gp_np["block_1_conv0"], h, 0.0, "VALID")))
    h = _pn(_lrelu(conv(gp_np["block_1_conv1"], h, 0.0)))
    rgb = np.tanh(conv(gp_np["block_1_to_rgb"], h, 1.0))
    want = np.repeat(np.repeat(rgb, 64, 1), 64, 2)
    got = jax.jit(lambda p: gs.Generator(c, 0).apply({"params": p}, z, pch, 1.0))(gp)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

    # D: 64x64 average pool, from_rgb, minibatch stddev, 3x3 conv, 2x16 'VALID' conv, heads.
    h = x.reshape(B, 2, 64, 16, 64, 2).mean((2, 4))
    h = _lrelu(conv(dp_np["block_1_from_rgb"], h, 0.0))
    h = np.concatenate([h, np.full(h.shape[:3] + (1,), np.sqrt(h.var(0) + 1e-6).mean())], -1)
    h = _lrelu(conv(dp_np["block_1_conv0"], h, 0.0))
    h = _lrelu(conv(dp_np["block_1_conv1"], h, 0.0, "VALID")).reshape(B, -1)

    def dense(p, h):
        return h @ (p["kernel"] / np.sqrt(h.shape[-1])) + p["bias"]

    logits, cls = jax.jit(lambda p: gs.Discriminator(c, 0).apply({"params": p}, x, 1.0))(dp)
    np.testing.assert_allclose(logits, dense(dp_np["logits"], h)[:, 0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cls, dense(dp_np["classification_logits"], h), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------
# Progressive growing: fade-in continuity on the narrow config at full geometry


@pytest.fixture(scope="module")
def small_nets():
    c = SMALL
    rng = np.random.default_rng(1)
    z = jnp.asarray(rng.standard_normal((B, c.latent_dim)), jnp.float32)
    pch = pitch_onehot(c, [30, 45, 60, 75])
    x = jnp.asarray(rng.uniform(-1, 1, (B, 128, 1024, 2)), jnp.float32)
    # Initialised at stage 0: the tree still holds every block.
    gp = _randomise(jax.jit(gs.Generator(c, 0).init)(jax.random.key(2), z, pch)["params"], 3)
    dp = _randomise(jax.jit(gs.Discriminator(c, 0).init)(jax.random.key(3), x)["params"], 4)
    stages = (0, 1, 2, 10, 11, 12)
    g = {s: jax.jit(lambda a, s=s: gs.Generator(c, s).apply({"params": gp}, z, pch, a))
         for s in stages}
    d = {s: jax.jit(lambda p, x, a, s=s: gs.Discriminator(c, s).apply({"params": p}, x, a))
         for s in stages}
    return g, d, dp, x


@pytest.mark.parametrize("k", [0, 5])
def test_generator_fades_in_linearly_and_is_blocky_at_stable_stages(small_nets, k):
    g = small_nets[0]
    lo, mid, hi = 2 * k, 2 * k + 1, 2 * k + 2
    out_lo, out_hi = np.asarray(g[lo](1.0)), np.asarray(g[hi](1.0))
    # G at a transition is (1 - alpha) G(stage before) + alpha G(stage after): continuous at
    # both ends of the transition.
    for a in (0.0, 0.3, 1.0):
        np.testing.assert_allclose(g[mid](a), (1 - a) * out_lo + a * out_hi, rtol=1e-5, atol=1e-6)
    # A stable stage's output is its resolution nearest-upsampled to 128x1024.
    for stage, out in ((lo, out_lo), (hi, out_hi)):
        h, w = stage_resolution(SMALL, stage)
        s = 128 // h
        assert w == 1024 // s
        np.testing.assert_array_equal(gs.upscale(out[:, ::s, ::s], s), out)
    assert out_hi.shape == (B, 128, 1024, 2) and np.abs(out_hi).max() <= 1.0
    assert not np.allclose(out_lo, out_hi)


def _perturb(params, block, names):
    return {k: jax.tree_util.tree_map(lambda a: a + 1.0, v) if k in
            [f"block_{block}_{n}" for n in names] else v for k, v in params.items()}


@pytest.mark.parametrize("k", [0, 5])
def test_discriminator_fade_in_is_continuous_and_sees_only_its_resolution(small_nets, k):
    _, d, dp, x = small_nets
    lo, mid, hi = 2 * k, 2 * k + 1, 2 * k + 2
    d_lo, d_hi = d[lo](dp, x, 1.0), d[hi](dp, x, 1.0)

    def close(got, want):
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)

    close(d[mid](dp, x, 0.0), d_lo)
    close(d[mid](dp, x, 1.0), d_hi)
    # The blend weights are exactly 0 / 1 at the ends: at alpha = 0 the new block (k + 2) is
    # unused; at alpha = 1 and at the next stable stage the old from_rgb (k + 1) is unused.
    new = _perturb(dp, k + 2, ("from_rgb", "conv0", "conv1"))
    old = _perturb(dp, k + 1, ("from_rgb",))
    close(d[mid](new, x, 0.0), d_lo)
    close(d[mid](old, x, 1.0), d_hi)
    close(d[hi](old, x, 1.0), d_hi)
    assert not np.allclose(d[mid](old, x, 0.5)[0], d[mid](dp, x, 0.5)[0])
    # D at stage s sees the input only through its box-downscaled versions, so real data
    # blended to stage s (or the upsampled lower-resolution version) scores the same.
    for stage, want in ((lo, d_lo), (hi, d_hi)):
        close(d[stage](dp, gs.blend_images(SMALL, x, stage), 1.0), want)
    mixed = d[mid](dp, x, 0.4)[0]
    assert not np.allclose(mixed, d_lo[0]) and not np.allclose(mixed, d_hi[0])


def test_gradient_penalty_gradients_are_finite_and_reach_only_active_blocks(small_nets):
    """WGAN-GP + drift + AC loss (§2.8) differentiates through D twice at a transition."""
    _, _, dp, x = small_nets
    c, stage = SMALL, 3                                        # blocks 1-3 in use
    fake = jnp.tanh(x[::-1] * 2.0)
    labels = jnp.array([30, 45, 60, 75]) - c.pitch_min

    def d_loss(p):
        def net(v):
            return gs.Discriminator(c, stage).apply({"params": p}, v, 0.3)
        real_logits, real_cls = net(x)
        eps = jnp.linspace(0.0, 1.0, B).reshape(B, 1, 1, 1)
        mix = x + eps * (fake - x)
        grad = jax.grad(lambda v: jnp.sum(net(v)[0]))(mix)
        slope = jnp.sqrt(jnp.sum(grad ** 2, axis=(1, 2, 3)))
        return (jnp.mean(net(fake)[0]) - jnp.mean(real_logits) + 10 * jnp.mean((slope - 1) ** 2)
                + 1e-3 * jnp.mean(real_logits ** 2) + 10 * cross_entropy(real_cls, labels))

    grads = jax.jit(jax.grad(d_loss))(dp)
    for name, g in grads.items():
        total = sum(float(jnp.sum(jnp.abs(leaf))) for leaf in jax.tree_util.tree_leaves(g))
        block = int(name.split("_")[1]) if name.startswith("block_") else 0
        # from_rgb only at the two blocks being blended (block 1's has weight clip(1 - p) = 0).
        used = block in (2, 3) if name.endswith("from_rgb") else block <= 3
        assert np.isfinite(total), name
        assert (total > 0) == used, (name, total)


def test_blend_images():
    x = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (2, 128, 1024, 2)), jnp.float32)
    np.testing.assert_array_equal(gs.blend_images(SMALL, x, 12), x)
    b0, b2 = gs.blend_images(SMALL, x, 0), gs.blend_images(SMALL, x, 2)
    np.testing.assert_allclose(b0, gs.upscale(gs.downscale(x, 64), 64), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gs.blend_images(SMALL, x, 1, 0.25), 0.75 * b0 + 0.25 * b2,
                               rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------
# Schedule (gansynth.md §2.7)


@pytest.mark.parametrize("images, stage, alpha, p", [
    (0, 0, 1.0, 0.0),
    (799_999, 0, 1.0, 0.0),
    (800_000, 1, 0.0, 0.0),
    (1_200_000, 1, 0.5, 0.5),
    (1_600_000, 2, 1.0, 1.0),
    (2_800_000, 3, 0.5, 1.5),
    (9_000_000, 11, 0.25, 5.25),     # floor(9.0 / 1.6) + (1.0 - 0.8) / 0.8
    (9_600_000, 12, 1.0, 6.0),
    (10_999_992, 12, 1.0, 6.0),      # the last batch of 8 (the reference caps at 10.4M - 1)
    (20_000_000, 12, 1.0, 6.0),
])
def test_stage_schedule(images, stage, alpha, p):
    assert gs.stage_and_alpha(images, FULL) == (stage, pytest.approx(alpha))
    # p as G, D and blend_images compute it from the schedule's (stage, alpha).
    assert gs._progress_at(*gs.stage_and_alpha(images, FULL)) == pytest.approx(p)


def test_stage_ends_resolutions_and_non_progressive():
    assert gs.stage_ends(FULL) == tuple(800_000 * (s + 1) for s in range(12)) + (11_000_000,)
    assert gs.stage_ends(FULL)[-1] // 8 == 1_375_000         # iterations at batch 8
    assert [gs.stage_num_blocks(s) for s in range(13)] == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]
    assert [stage_resolution(FULL, s) for s in (0, 1, 2, 3, 12)] == \
        [(2, 16), (4, 32), (4, 32), (8, 64), (128, 1024)]
    flat = gs.GANSynthConfig(progressive=False)
    assert gs.stage_and_alpha(0, flat) == (12, 1.0)
    assert gs._progress_at(*gs.stage_and_alpha(5, flat)) == 6.0
    quick = gs.GANSynthConfig(stable_stage_num_images=32, transition_stage_num_images=16,
                              total_num_images=320)
    assert gs.stage_and_alpha(40, quick) == (1, 0.5)        # 32 stable + 8 of 16 transition
    assert gs.stage_and_alpha(48, quick) == (2, 1.0)
    with pytest.raises(ValueError, match="stage"):
        gs.Generator(FULL, 13).init(jax.random.key(0), jnp.zeros((1, 256)), jnp.zeros((1, 61)))


# ----------------------------------------------------------------------------
# Latents, pitches, AC loss


def test_latent_pitch_sampling_and_ac_loss():
    z = np.asarray(gs.sample_latent(FULL, jax.random.key(0), 64))
    assert z.shape == (64, 256) and abs(z.std() - 1.0) < 0.02 and abs(z.mean()) < 0.02
    midi = np.asarray(gs.sample_pitch(FULL, jax.random.key(1), 4000))
    assert midi.min() == 24 and midi.max() == 84 and len(np.unique(midi)) == 61
    counts = gs.pitch_histogram(FULL, [30, 30, 30, 60, 10, 99])
    assert counts.shape == (61,) and counts[6] == 3 and counts[36] == 1 and counts.sum() == 4
    midi = np.asarray(gs.sample_pitch(FULL, jax.random.key(2), 4000, counts))
    assert set(np.unique(midi)) == {30, 60} and 0.7 < np.mean(midi == 30) < 0.8
    onehot = np.asarray(pitch_onehot(FULL, [24, 84]))
    assert onehot.shape == (2, 61) and onehot[0, 0] == 1 and onehot[1, 60] == 1
    assert onehot.sum() == 2
    logits = np.random.default_rng(0).standard_normal((2, 61)).astype(np.float32)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    loss = cross_entropy(logits, np.array([0, 60]))
    assert float(loss) == pytest.approx(-(logp[0, 0] + logp[1, 60]) / 2, rel=1e-5)


def test_pitch_gain_strengthens_the_pitch_input():
    """model.pitch_gain scales the one-hot before the joint pixel norm with z: with the same
    weights, changing the pitch moves G's output as much as changing z at gain 16 (measured:
    1.0x), a sixth as much at the paper's 1 (0.16x: one input in 317)."""
    cfg = gs.GANSynthConfig(fmap_base=256, fmap_max=8, **GEOMETRY_64x128)
    z = gs.sample_latent(cfg, jax.random.key(0), 2 * B)
    pch = pitch_onehot(cfg, [30, 45, 60, 75] * 2)
    params = gs.Generator(cfg).init(jax.random.key(1), z, pch)

    def moves(gain):   # mean change of G(z, pitch) with the pitch, and with z
        g = lambda z, p: gs.Generator(dataclasses.replace(cfg, pitch_gain=gain)).apply(params, z, p)
        base = g(z, pch)
        return (float(jnp.mean(jnp.abs(g(z, jnp.roll(pch, 1, axis=0)) - base))),
                float(jnp.mean(jnp.abs(g(jnp.roll(z, 1, axis=0), pch) - base))))

    (by_pitch_1, by_z_1), (by_pitch_16, by_z_16) = moves(1.0), moves(16.0)
    assert by_pitch_1 < 0.3 * by_z_1
    assert by_pitch_16 > 0.7 * by_z_16


def test_pitch_templates_put_the_partials_where_the_representation_does():
    """Linear axis at 8 kHz, n_fft 256 (31.25 Hz a bin, DC dropped: bin index i is
    (i + 1) x 31.25 Hz): A4's template peaks at 440 Hz, with its 2nd partial above the
    trough between them; an octave up moves the peak by an octave."""
    cfg = gs.GANSynthConfig(representation="if", **GEOMETRY_64x128)
    t = gs.pitch_templates(cfg)
    assert t.shape == (61, 64, 128, 2) and t.dtype == np.float32
    assert -1.0 <= t.min() and t.max() <= 1.0          # normalised like D's input
    mag = lambda midi: t[midi - 24, 32:, :, 0].mean(axis=0)   # the steady half
    bin_of = lambda hz: round(hz / 31.25) - 1
    a4, a5 = mag(69), mag(81)
    assert int(np.argmax(a4)) == bin_of(440.0) and int(np.argmax(a5)) == bin_of(880.0)
    assert a4[bin_of(880.0)] > a4[bin_of(660.0)] + 0.2
    # mel_if warps the same partials, but keeps notes apart wherever the bins resolve them
    mel = gs.pitch_templates(gs.GANSynthConfig(**GEOMETRY_64x128))[:, 32:, :, 0].mean(axis=1)
    assert np.corrcoef(mel[60 - 24], mel[72 - 24])[0, 1] < 0.5


def test_pitch_template_channels_and_what_they_reach():
    """"g": every 3x3 conv of G reads C more channels (the template at its resolution); "g+d":
    so does each from_rgb of D, which then depends on the labels even without a projection."""
    base = gs.GANSynthConfig(fmap_base=256, fmap_max=8, latent_dim=8, class_head="ac",
                             **GEOMETRY_64x128)
    cfgs = {t: dataclasses.replace(base, pitch_template=t) for t in ("none", "g", "g+d")}
    z = gs.sample_latent(base, jax.random.key(0), B)
    pch = pitch_onehot(base, [30, 45, 60, 75])
    x = jnp.zeros((B, 64, 128, 2))
    g = {t: gs.Generator(c).init(jax.random.key(1), z, pch) for t, c in cfgs.items()}
    d = {t: gs.Discriminator(c).init(jax.random.key(1), x, label_B=jnp.arange(B))
         for t, c in cfgs.items()}
    convs = [f"block_{b}_conv{i}" for b in range(1, 5) for i in (0, 1)][1:]   # not the latent one
    widths = [gs.num_filters(base, int(n[6])) for n in convs]
    assert count(g["g"]) - count(g["none"]) == sum(9 * 2 * w for w in widths)
    assert count(d["g"]) == count(d["none"])
    assert count(d["g+d"]) - count(d["none"]) == sum(2 * gs.num_filters(base, b) for b in range(1, 5))
    apply_g = lambda p, c, pitch: gs.Generator(c).apply(p, z, pitch_onehot(base, pitch))
    moved = jnp.abs(apply_g(g["g"], cfgs["g"], [30] * B) - apply_g(g["g"], cfgs["g"], [75] * B))
    assert float(moved.mean()) > 0
    x = gs.Generator(cfgs["none"]).apply(g["none"], z, pch)
    d_logit = lambda labels: gs.Discriminator(cfgs["g+d"]).apply(d["g+d"], x, label_B=labels)[0]
    assert not np.allclose(d_logit(jnp.zeros(B, jnp.int32)), d_logit(jnp.full(B, 50)))


# ----------------------------------------------------------------------------
# Representation (gansynth.md §1)


def generated_note(f0, seed, sr=16000, n=64000):
    """A harmonic note: 6 partials with random phases, attack/decay envelope, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    partials = sum(0.5 ** k * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 2 * np.pi))
                   for k in range(6) if f0 * (k + 1) < sr / 2)
    env = np.minimum(1.0, t / 0.02) * np.exp(-2.0 * t)
    return (0.4 * env * partials + 1e-3 * rng.standard_normal(n)).astype(np.float32)


def notes():
    """8 real NSynth-layout notes (one per instrument, pitches 27..76), or 4 generated ones."""
    root = os.environ.get("GAN_JAX_DATA")
    if not root:
        return np.stack([generated_note(55.0 * 2 ** (0.6 * i), i) for i in range(4)])
    import soundfile as sf

    root = os.path.join(root, "nsynth-gm")
    with open(os.path.join(root, "examples.json")) as fh:
        names = sorted(json.load(fh))      # 8 instruments x 61 pitches, instrument-major
    out = []
    for i in range(8):
        y, sr = sf.read(os.path.join(root, "audio", names[61 * i + (7 * i + 3) % 61] + ".wav"),
                        dtype="float32")
        assert sr == 16000 and y.shape == (64000,)
        out.append(y)
    return np.stack(out)


def test_normalisation_constants():
    raw = jnp.asarray([np.log(1e-6), 10.3766, 0.0]).reshape(1, 3, 1, 1)
    mag_only = gs.GANSynthConfig(representation="mag")
    y = np.asarray(gs.normalize(mag_only, raw))[0, :, 0, 0]
    np.testing.assert_allclose(y, [-0.8, 0.8, 0.113718730221], atol=1e-5)
    np.testing.assert_allclose(gs.normalize(FULL, jnp.full((1, 1, 1, 2), 100.0)), 1.0)  # clipped
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (1, 2, 3, 2)), jnp.float32)
    np.testing.assert_allclose(gs.normalize(FULL, gs.denormalize(FULL, x)), x, atol=1e-6)
    np.testing.assert_allclose(gs.norm_scale(FULL), [0.0661371661726, 0.8])


@pytest.mark.parametrize("rep", ["mel_if", "if", "mag"])
def test_encode_of_silence(rep):
    cfg = gs.GANSynthConfig(representation=rep)
    e = np.asarray(gs.encode(cfg, jnp.zeros((1, 64000, 1))))
    assert e.shape == (1, 128, 1024, cfg.channels)
    np.testing.assert_allclose(e[..., 0], -0.8, atol=1e-6)    # log(1e-6) -> -0.8
    if cfg.channels == 2:
        np.testing.assert_array_equal(e[..., 1], 0.0)


# Spectral convergence of |STFT(decode(encode(x)))| against |STFT(x)| (GANSynth framing),
# worst case measured over the 8 real notes / 4 generated notes, then the bound:
#   mel_if 0.50 / 0.17 -> 0.6: lossy in phase (§1.7: phase @ M averages neighbouring bins'
#          phases, ~pi apart for one partial); the log-mel power survives (second check);
#   if     0.007 / 0.0005 -> 0.02: lossless but for the dropped DC bin and the faded last
#          ~350 samples;
#   mag    0.10 / 0.04 -> 0.15: 64 iterations of fast Griffin-Lim from zero phase.
SC_BOUND = {"mel_if": 0.6, "if": 0.02, "mag": 0.15}


@pytest.mark.parametrize("rep", ["mel_if", "if", "mag"])
def test_representation_round_trip(rep):
    cfg = gs.GANSynthConfig(representation=rep)
    x = notes()
    enc = jax.jit(lambda a: gs.encode(cfg, a[..., None], {}))
    e = np.asarray(enc(x))
    assert e.shape == (len(x), 128, 1024, cfg.channels)
    assert e.min() >= -1.0 and e.max() <= 1.0
    # Real and generated notes stay inside the reference's +-0.8 range (no clipping).
    assert e[..., 0].min() >= -0.8 - 1e-5 and e[..., 0].max() <= 0.8
    y = np.asarray(jax.jit(lambda s: gs.decode(cfg, s, {}))(e))
    assert y.shape == (len(x), 64000, 1) and np.all(np.isfinite(y))
    ref = np.abs(np.asarray(sp.gansynth_stft(x)))
    est = np.abs(np.asarray(sp.gansynth_stft(y[..., 0])))
    sc = np.asarray(sp.spectral_convergence(ref, est))
    assert np.all(sc <= SC_BOUND[rep]), sc
    if rep == "mel_if":
        # The warped magnitude survives: re-analysed log-mel power within 1 nat (mean) on
        # bins within ~35 dB of each note's peak.
        e2 = np.asarray(enc(y[..., 0]))
        raw, raw2 = (np.asarray(gs.denormalize(cfg, a))[..., 0] for a in (e, e2))
        loud = raw > raw.max(axis=(1, 2), keepdims=True) - 8.0
        assert np.mean(np.abs(raw2 - raw)[loud]) <= 1.0
