"""WaveGAN shapes and parameter counts against the reference (no compile: jax.eval_shape)."""

import dataclasses
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax.models import wavegan as W


def _count(tree):
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


def _shapes(cfg, batch=2):
    z = jax.ShapeDtypeStruct((batch, cfg.latent_dim), jnp.float32)
    g_vars = jax.eval_shape(W.Generator(cfg).init, jax.random.key(0), z)
    x = jax.eval_shape(W.Generator(cfg).apply, g_vars, z)
    rngs = {"params": jax.random.key(0), "shuffle": jax.random.key(1)}
    d_vars = jax.eval_shape(W.Discriminator(cfg).init, rngs, x)
    logits = jax.eval_shape(lambda v, x: W.Discriminator(cfg).apply(
        v, x, rngs={"shuffle": jax.random.key(2)}, mutable=["batch_stats"])[0], d_vars, x)
    return g_vars, x, d_vars, logits


@pytest.mark.parametrize("slice_len,dim,g_params,d_params", [
    (16384, 64, 19_065_345, 17_427_969),   # wavegan-specgan.md §5
    (16384, 32, 5_180_673, 4_361_985),
    (32768, 64, 73_149_953, 69_875_201),
    (65536, 64, 73_149_953, 69_875_201),
    (32768, 32, 19_115_777, 17_478_401),
    # The quick preset's 8192 (not in the paper): start 8, five stride-4 layers, dim_mul 16.
    # G: 100*2048+2048 + 25*(256*128+128*64+64*32+32*16+16) + 128+64+32+16+1.
    (8192, 16, 1_295_489, 1_090_945),
    # 4096 (quick): start 4, the same layers; G's and D's dense layers halve (1024 wide).
    (4096, 16, 1_192_065, 1_089_921),
])
def test_parameter_counts_and_shapes(slice_len, dim, g_params, d_params):
    cfg = W.WaveGANConfig(slice_len=slice_len, dim=dim)
    g_vars, x, d_vars, logits = _shapes(cfg)
    assert _count(g_vars["params"]) == g_params
    assert _count(d_vars["params"]) == d_params
    assert x.shape == (2, slice_len, 1)
    assert logits.shape == (2,)


def test_per_layer_counts_of_the_reference_model():
    g_vars, _, d_vars, _ = _shapes(W.WaveGANConfig())
    g = {k: _count(v) for k, v in g_vars["params"].items()}
    d = {k: _count(v) for k, v in d_vars["params"].items()}
    assert g == {"z_project": 1_654_784, "upconv_0": 13_107_712, "upconv_1": 3_277_056,
                 "upconv_2": 819_328, "upconv_3": 204_864, "upconv_4": 1_601}
    assert d == {"downconv_0": 1_664, "downconv_1": 204_928, "downconv_2": 819_456,
                 "downconv_3": 3_277_312, "downconv_4": 13_108_224, "output": 16_385}
    # Transposed-conv kernels are in TF's [k, C_out, C_in] layout (loadable TF weights).
    assert g_vars["params"]["upconv_0"]["kernel"].shape == (25, 512, 1024)


def test_batchnorm_and_post_filter_parameters():
    base = W.WaveGANConfig()
    g, _, d, _ = _shapes(W.WaveGANConfig(batchnorm=True, post_filter=True))
    assert _count(g["params"]) == 19_065_345 + 3_968 + 512   # BN over 16d channels after reshape
    assert _count(d["params"]) == 17_427_969 + 3_840
    assert _count(g["batch_stats"]) == 3_968
    assert base.post_filter is False and base.batchnorm is False


@pytest.mark.parametrize("mode", W.UPSAMPLE_MODES)
def test_upsample_modes_and_stereo(mode):
    cfg = W.WaveGANConfig(dim=2, upsample=mode, channels=2, post_filter=True)
    g, x, d, logits = _shapes(cfg)
    assert x.shape == (2, 16384, 2) and logits.shape == (2,)


def test_generator_output_range_and_impls_agree():
    cfg = W.WaveGANConfig(dim=2)
    z = W.sample_latent(cfg, jax.random.key(0), 3)
    assert float(z.min()) >= -1 and float(z.max()) <= 1        # uniform, not Gaussian
    v = W.Generator(cfg).init(jax.random.key(1), z)
    a = W.Generator(cfg).apply(v, z)
    b = W.Generator(W.WaveGANConfig(dim=2, conv_impl="xla")).apply(v, z)
    assert float(jnp.abs(a).max()) <= 1.0
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_bad_model_config_is_refused():
    with pytest.raises(ValueError, match="slice_len"):
        W.WaveGANConfig(slice_len=16000)
    with pytest.raises(ValueError, match="upsample"):
        W.WaveGANConfig(upsample="bilinear")


def test_minibatch_stddev_channel_in_d():
    # One more channel before D's flatten: 8 positions x 1 more Dense weight at 8192, dim 16.
    cfg = W.WaveGANConfig(slice_len=8192, dim=16, phase_shuffle=0, mbstd_group=4)
    _, _, d_vars, logits = _shapes(cfg, batch=8)
    assert _count(d_vars["params"]) == 1_090_945 + 8 and logits.shape == (8,)
    # D now sees its group: changing example 0 moves the logits of 1-3, not those of 4-7.
    x = jax.random.normal(jax.random.key(0), (8, 8192, 1))
    d = W.Discriminator(cfg)
    v = d.init(jax.random.key(1), x)
    a, b = d.apply(v, x), d.apply(v, x.at[0].multiply(3.0))
    assert np.all(np.abs(np.asarray(a - b)[1:4]) > 1e-6)
    np.testing.assert_array_equal(a[4:], b[4:])
    with pytest.raises(ValueError, match="mbstd_group"):
        W.WaveGANConfig(mbstd_group=1)


@pytest.mark.parametrize("penalty_grad", [True, False])
def test_penalty_d_holds_the_minibatch_stddev_channel(penalty_grad):
    # The D a gradient penalty differentiates: the same logits; with mbstd_penalty_grad off
    # example 0's logit has no gradient on example 1 (the channel was the only path).
    cfg = W.WaveGANConfig(slice_len=4096, dim=4, phase_shuffle=0, mbstd_group=4,
                          mbstd_penalty_grad=penalty_grad)
    x = jax.random.normal(jax.random.key(0), (8, 4096, 1))
    d, d_pen = W.Discriminator(cfg), W.Discriminator(cfg, in_penalty=True)
    v = d.init(jax.random.key(1), x)
    np.testing.assert_array_equal(d.apply(v, x), d_pen.apply(v, x))
    grad_BxTx1 = jax.grad(lambda x: d_pen.apply(v, x)[0])(x)
    cross = float(jnp.max(jnp.abs(grad_BxTx1[1])))
    assert (cross > 1e-6) if penalty_grad else (cross == 0.0)
    assert float(jnp.max(jnp.abs(grad_BxTx1[0]))) > 1e-6
    assert float(jnp.max(jnp.abs(grad_BxTx1[4]))) == 0.0   # another group: never reached


def test_projection_d_scores_several_labels_in_one_pass():
    # Labels [B, 2] (train.d_mismatch): column m equals D given labels[:, m] alone.
    cfg = W.WaveGANConfig(slice_len=4096, dim=4, phase_shuffle=0, num_classes=5,
                          class_head="projection+ac")
    x = jax.random.normal(jax.random.key(0), (3, 4096, 1))
    labels_Bx2 = jnp.array([[0, 4], [2, 1], [3, 3]])
    d = W.Discriminator(cfg)
    v = d.init(jax.random.key(1), x, labels_Bx2[:, 0])
    logits_Bx2, cls = d.apply(v, x, labels_Bx2)
    assert logits_Bx2.shape == (3, 2)
    for m in range(2):
        one, cls_one = d.apply(v, x, labels_Bx2[:, m])
        np.testing.assert_allclose(logits_Bx2[:, m], one, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(cls, cls_one)
    assert float(jnp.abs(logits_Bx2[0, 0] - logits_Bx2[0, 1])) > 1e-4   # the label matters


def test_class_conditional_g_and_d():
    # G: 10 more z_project input rows (the one-hot after z). D's head on the flat features
    # (8 positions x 256 channels at 8192, dim 16): a 2048-wide embedding per class
    # (projection), or a 10-way classifier (AC-GAN).
    cfg = W.WaveGANConfig(slice_len=8192, dim=16, phase_shuffle=0, num_classes=10)
    z, labels = jnp.zeros((2, 100)), jnp.array([3, 4])
    onehot = jax.nn.one_hot(labels, 10)
    g = W.Generator(cfg)
    g_vars = jax.eval_shape(g.init, jax.random.key(0), z, onehot)
    assert _count(g_vars["params"]) == 1_295_489 + 10 * 2048
    g_vars = g.init(jax.random.key(0), z, onehot)
    same_z = g.apply(g_vars, jnp.ones((2, 100)), onehot)
    assert float(jnp.abs(same_z[0] - same_z[1]).max()) > 1e-4     # the label reaches the audio
    # g_class_bias: a per-class bias on each hidden layer (256, 128, 64, 32, 16 channels),
    # 0 at init, so G starts as the one-hot-only G; a bias of class 3 moves class 3 only.
    gb = W.Generator(dataclasses.replace(cfg, g_class_bias=True))
    gb_vars = gb.init(jax.random.key(0), z, onehot)
    assert _count(gb_vars["params"]) == 1_295_489 + 10 * 2048 + 10 * (256 + 128 + 64 + 32 + 16)
    np.testing.assert_array_equal(gb.apply(gb_vars, jnp.ones((2, 100)), onehot), same_z)
    params = dict(gb_vars["params"])
    params["upconv_1_class_bias"] = {"kernel": jnp.zeros((10, 64)).at[3].set(0.5)}
    moved = gb.apply({"params": params}, jnp.ones((2, 100)), onehot)
    assert float(jnp.abs(moved[0] - same_z[0]).max()) > 1e-4
    np.testing.assert_array_equal(moved[1], same_z[1])
    x = jax.random.normal(jax.random.key(0), (2, 8192, 1))
    d = W.Discriminator(cfg)
    d_vars = d.init(jax.random.key(1), x, labels)
    assert _count(d_vars["params"]) == 1_090_945 + 10 * 2048
    logits = d.apply(d_vars, x, labels)
    assert logits.shape == (2,)
    # Projection: the logit moves by <embedding(y), features>, so the same x scores differently
    # as another class, and exactly as much as the embedding difference says.
    swapped = d.apply(d_vars, x, labels[::-1])
    assert float(jnp.abs(logits - swapped).max()) > 1e-4
    ac = W.Discriminator(W.WaveGANConfig(slice_len=8192, dim=16, phase_shuffle=0, num_classes=10,
                                         class_head="ac"))
    ac_vars = ac.init(jax.random.key(1), x)
    assert _count(ac_vars["params"]) == 1_090_945 + 2048 * 10 + 10
    logits, cls = ac.apply(ac_vars, x)
    assert logits.shape == (2,) and cls.shape == (2, 10)
    # Both heads: the projection's embedding and the classifier, on the same features.
    both = W.Discriminator(dataclasses.replace(cfg, class_head="projection+ac"))
    both_vars = both.init(jax.random.key(1), x, labels)
    assert _count(both_vars["params"]) == 1_090_945 + 10 * 2048 + 2048 * 10 + 10
    logits, cls = both.apply(both_vars, x, labels)
    assert cls.shape == (2, 10)
    assert float(jnp.abs(logits - both.apply(both_vars, x, labels[::-1])[0]).max()) > 1e-4
    # ADC-GAN: a real and a fake logit per class.
    adc = W.Discriminator(dataclasses.replace(cfg, class_head="adc"))
    adc_vars = adc.init(jax.random.key(1), x)
    assert _count(adc_vars["params"]) == 1_090_945 + 2048 * 20 + 20
    assert adc.apply(adc_vars, x)[1].shape == (2, 20)
    with pytest.raises(ValueError, match="model.num_classes"):
        W.WaveGANConfig(num_classes=1)
    with pytest.raises(ValueError, match="model.class_head"):
        W.WaveGANConfig(class_head="cgan")


def test_class_filter_of_g():
    # g_class_filter: one FIR of 64 taps per class before the tanh, a unit impulse at init
    # (so G starts as without it), the impulse plus g_class_filter_lr times the learnt
    # delta; each clip is filtered by its own class's filter only, exactly as numpy's
    # 'same' convolution (centre tap 32) would.
    cfg = W.WaveGANConfig(slice_len=4096, dim=2, num_classes=3)
    z, onehot = jax.random.uniform(jax.random.key(0), (3, 100)), jax.nn.one_hot(jnp.arange(3), 3)
    g = W.Generator(cfg)
    gf = W.Generator(dataclasses.replace(cfg, g_class_filter=64, g_class_filter_lr=10.0))
    g_vars, gf_vars = g.init(jax.random.key(1), z, onehot), gf.init(jax.random.key(1), z, onehot)
    assert _count(gf_vars["params"]) == _count(g_vars["params"]) + 3 * 64
    plain = np.asarray(g.apply(g_vars, z, onehot))
    np.testing.assert_allclose(gf.apply(gf_vars, z, onehot), plain, atol=1e-6)
    h = jax.random.normal(jax.random.key(2), (64,)) * 0.2
    delta = (h - jnp.zeros(64).at[32].set(1.0)) / 10.0
    params = {**gf_vars["params"],
              "class_filter_delta": gf_vars["params"]["class_filter_delta"].at[1].set(delta)}
    out = np.asarray(gf.apply({"params": params}, z, onehot))
    np.testing.assert_allclose(out[[0, 2]], plain[[0, 2]], atol=1e-6)
    pre = np.arctanh(plain[1, :, 0].astype(np.float64))      # G's output before the tanh
    expected = np.tanh(np.convolve(pre, np.asarray(h, np.float64))[32:32 + 4096])
    np.testing.assert_allclose(out[1, :, 0], expected, atol=1e-5)
    # Unconditional: one filter for every clip.
    cfg0 = W.WaveGANConfig(slice_len=4096, dim=2, g_class_filter=64)
    g0_vars = W.Generator(cfg0).init(jax.random.key(1), z)
    assert g0_vars["params"]["class_filter_delta"].shape == (1, 64)
    with pytest.raises(ValueError, match="g_class_filter"):
        W.WaveGANConfig(g_class_filter=-1)
    with pytest.raises(ValueError, match="g_class_filter_lr"):
        W.WaveGANConfig(g_class_filter=64, g_class_filter_lr=0.0)


def test_class_filter_lr_scales_the_taps_step():
    # Adam's first step moves every parameter by its learning rate (times the gradient's
    # sign), so the taps, impulse + g_class_filter_lr * delta, move g_class_filter_lr times it.
    z, onehot = jax.random.uniform(jax.random.key(0), (3, 100)), jax.nn.one_hot(jnp.arange(3), 3)
    w = jax.random.normal(jax.random.key(3), (3, 4096, 1))
    for mult in (1.0, 10.0):
        g = W.Generator(W.WaveGANConfig(slice_len=4096, dim=2, num_classes=3, g_class_filter=64,
                                        g_class_filter_lr=mult))
        params = g.init(jax.random.key(1), z, onehot)["params"]
        grads = jax.grad(lambda p: jnp.sum(w * g.apply({"params": p}, z, onehot)))(params)
        opt = optax.adam(1e-3)
        updates, _ = opt.update(grads, opt.init(params))
        step = mult * np.abs(np.asarray(updates["class_filter_delta"]))
        np.testing.assert_allclose(step.max(), mult * 1e-3, rtol=1e-3)


def test_spectral_norm_keeps_the_parameters_and_bounds_d():
    cfg = W.WaveGANConfig(slice_len=8192, dim=16, phase_shuffle=0, spectral_norm=True)
    _, _, d_vars, logits = _shapes(cfg, batch=2)
    assert _count(d_vars["params"]) == 1_090_945 and logits.shape == (2,)
    # Same parameters, other logits: every layer is divided by its kernel's top singular value.
    x = jax.random.normal(jax.random.key(0), (2, 8192, 1))
    v = W.Discriminator(cfg).init(jax.random.key(1), x)
    plain = W.Discriminator(W.WaveGANConfig(slice_len=8192, dim=16, phase_shuffle=0))
    assert not np.allclose(W.Discriminator(cfg).apply(v, x), plain.apply(v, x))


def test_stft_branch_of_d():
    # [64 frames, 128 bins] of a 4096-sample clip with n_fft 256: three stride-2 convs of
    # kernel 5 over frames, bins as channels (128 -> 64 -> 128 -> 256), so 8 x 256 more
    # inputs to the output layer.
    cfg = W.WaveGANConfig(slice_len=4096, dim=16, d_stft=(256,))
    _, _, d_vars, logits = _shapes(cfg)
    convs = 5 * 128 * 64 + 64 + 5 * 64 * 128 + 128 + 5 * 128 * 256 + 256
    assert _count(d_vars["params"]) == 1_089_921 + convs + 8 * 256 and logits.shape == (2,)
    # A second resolution, n_fft 64 ([256 frames, 32 bins] -> 32 x 256 more inputs).
    _, _, d_vars, _ = _shapes(W.WaveGANConfig(slice_len=4096, dim=16, d_stft=(256, 64)))
    convs64 = convs - 5 * 96 * 64
    assert _count(d_vars["params"]) == 1_089_921 + convs + 8 * 256 + convs64 + 32 * 256
    for bad in (16, 384, 1024):   # too small, not a power of 2, over slice_len / 8
        with pytest.raises(ValueError, match="model.d_stft"):
            W.WaveGANConfig(slice_len=4096, d_stft=(256, bad))


def test_log_power_of_a_tone_and_its_gradients_at_silence():
    sr, n_fft = 8000, 256
    t = np.arange(4096) / sr
    x = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)[None, :, None]
    lp = np.asarray(W.log_power(jnp.asarray(x), n_fft))
    assert lp.shape == (1, 64, 128, 1)
    # Frames are centred: frame 18 starts at 18 * 64 - 128 = 1024. Periodic Hann window.
    frame = x[0, 1024:1024 + n_fft, 0] * np.hanning(n_fft + 1)[:-1]
    want = 0.1 * np.log(np.abs(np.fft.rfft(frame)[:128]) ** 2 + 1e-4)
    np.testing.assert_allclose(lp[0, 18, :, 0], want, atol=1e-4)
    assert lp[0, 20, :, 0].argmax() == 1000 * n_fft // sr     # the tone's bin, 32
    # R1 differentiates D twice; |z| would give NaN there at exact silence, re^2 + im^2 does not.
    w = jax.random.normal(jax.random.key(0), (1, 64, 128, 1))
    d = lambda w, x: jnp.sum(W.log_power(x, n_fft) * w)
    r1 = lambda w: jnp.sum(jax.grad(d, argnums=1)(w, jnp.zeros((2, 4096, 1))) ** 2)
    assert bool(jnp.isfinite(jax.grad(r1)(w)).all())
