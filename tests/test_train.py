"""The generic train step: device-count invariance, sharding errors, loss options, learning."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import cross_entropy, tb_events, tiny_config
from gan_jax import config as config_lib
from gan_jax import train as T


def _batches(cfg, n_steps, seed=0):
    """(audio [n_critic, B, T, 1], labels [n_critic, B]) per step: sines, random classes."""
    rng = np.random.default_rng(seed)
    t = np.arange(cfg.model.slice_len) / 16000.0
    classes = max(T.get_model(cfg.model_name).num_classes(cfg.model), 1)
    shape = (cfg.train.n_critic, cfg.train.batch_size)
    out = []
    for _ in range(n_steps):
        f = rng.uniform(200, 800, shape + (1, 1))
        labels = rng.integers(0, classes, shape).astype(np.int32)
        out.append(((0.8 * np.sin(2 * np.pi * f * t[:, None])).astype(np.float32), labels))
    return out


def _stats(cfg):
    """Representation statistics (SpecGAN moments) from a few embedded clips; {} for WaveGAN."""
    return T.get_model(cfg.model_name).compute_stats(cfg.model, T.load_data(cfg))


def _run(cfg, devices, n_steps=3):
    """n_steps of the train loop's schedule: a progressive model changes stage (recompiling
    and resetting the optimisers) where the loop would."""
    mesh = T.make_mesh(devices)
    state = T.create_state(cfg, mesh)
    stats = _stats(cfg)
    metrics, steps = [], {}
    for i, real in enumerate(_batches(cfg, n_steps)):
        stage = T.progress_at(cfg, i)[0]
        if i > 0 and stage != T.progress_at(cfg, i - 1)[0]:
            state = T.reset_optimizers(cfg, state)
        if stage not in steps:   # one compilation per stage, as in the loop
            steps[stage] = T.compile_step(cfg, mesh, stage)
        step = steps[stage]
        state, m = step(state, T.shard_batch(mesh, real, cfg.train.batch_size), stats)
        metrics.append({k: float(v) for k, v in m.items()})
    return jax.device_get(state), metrics


def _one_step(r1: bool = False, **overrides):
    """(state, metrics) after one step of a tiny config on one device, from its initial
    state; r1: the lazy-R1 executable or the plain one."""
    cfg = tiny_config(**overrides)
    mesh = T.make_mesh(jax.devices()[:1])
    real = T.shard_batch(mesh, _batches(cfg, 1)[0], cfg.train.batch_size)
    return T.compile_step(cfg, mesh)(T.create_state(cfg, mesh), real, _stats(cfg), r1)


@pytest.mark.parametrize("model", ["wavegan", "specgan", "gansynth"])
def test_eight_devices_equal_one_device(model):
    assert jax.device_count() == 8
    # RMSProp with TF's mean square starting at 1 moves parameters in proportion to their
    # gradients. Adam's first steps are ~lr * sign(g): a gradient that is 0 up to float
    # round-off (summed in another order on 8 devices) can flip a whole lr-sized step, which
    # would test Adam's amplification of round-off rather than the data-parallel arithmetic.
    cfg = tiny_config(model, **{"train.optimizer": "rmsprop", "train.lr": "1e-3"})
    s1, m1 = _run(cfg, jax.devices()[:1])
    s8, m8 = _run(cfg, jax.devices())
    for a, b in zip(jax.tree.leaves((s1.g_params, s1.d_params)), jax.tree.leaves((s8.g_params, s8.d_params))):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    assert m1[-1]["d_loss"] == pytest.approx(m8[-1]["d_loss"], rel=1e-4)
    assert int(s8.step) == 3


def test_batch_not_divisible_by_devices_is_refused():
    cfg = tiny_config(**{"train.batch_size": 6})
    with pytest.raises(config_lib.ConfigError, match="batch_size=6 is not divisible by the 8 devices"):
        T.compile_step(cfg, T.make_mesh())


def test_critic_learns_and_d_loss_falls():
    cfg = tiny_config(**{"model.dim": 4, "train.lr": "1e-3"})
    _, metrics = _run(cfg, jax.devices()[:1], n_steps=12)
    first, late = metrics[0]["d_loss"], np.mean([m["d_loss"] for m in metrics[-4:]])
    assert late < first - 1.0, (first, late)
    assert metrics[-1]["wasserstein"] > metrics[0]["wasserstein"]


def test_wgan_clips_critic_weights_and_reference_optimizer():
    cfg = tiny_config(**{"train.loss": "wgan", "train.optimizer": "reference", "train.clip": "0.005"})
    state, metrics = _run(cfg, jax.devices()[:1], n_steps=1)
    assert max(float(jnp.abs(p).max()) for p in jax.tree.leaves(state.d_params)) <= 0.005 + 1e-7
    assert "gp" in metrics[0] and metrics[0]["gp"] == 0.0
    # RMSProp state (TF1 semantics: mean square initialised to one) was selected by "reference".
    nu = jax.tree.leaves(state.d_opt)[0]
    assert float(jnp.min(nu)) > 0.5


@pytest.mark.parametrize("loss", ["minimax", "non-saturating", "lsgan", "hinge"])
def test_every_loss_trains_a_step(loss):
    cfg = tiny_config(**{"train.loss": loss, "train.n_critic": 1})
    state, metrics = _run(cfg, jax.devices()[:1], n_steps=2)
    assert all(np.isfinite(v) for v in metrics[-1].values())
    assert int(state.step) == 2


def test_batchnorm_statistics_and_ema_are_updated():
    cfg = tiny_config(**{"model.batchnorm": "true", "train.ema": "0.5", "train.n_critic": 1})
    fresh = T.init_state(cfg, jax.random.key(cfg.seed))
    state, _ = _run(cfg, jax.devices()[:1], n_steps=2)
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), state.g_state, fresh.g_state)
    assert max(jax.tree.leaves(moved)) > 0
    ema_gap = jax.tree.map(lambda e, p: float(jnp.abs(e - p).max()), state.ema, state.g_params)
    assert max(jax.tree.leaves(ema_gap)) > 0      # the EMA lags the parameters


def test_ema_warmup_follows_tf_num_updates():
    # Step 0 decays by min(0.999, 1/10): the EMA is already 90 % the trained weights, where
    # without warm-up it would still be 99.9 % the initial ones.
    cfg = tiny_config(**{"train.ema": "0.999", "train.ema_warmup": "true", "train.n_critic": 1})
    fresh = T.init_state(cfg, jax.random.key(cfg.seed))
    state, _ = _run(cfg, jax.devices()[:1], n_steps=1)
    for e, p0, p1 in zip(*(jax.tree.leaves(t) for t in (state.ema, fresh.g_params, state.g_params))):
        np.testing.assert_allclose(e, 0.1 * p0 + 0.9 * p1, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("model,head", [("specgan", "projection"), ("specgan", "ac"),
                                        ("specgan", "projection+adc"),
                                        ("gansynth", "projection+ac")])
def test_class_conditional_heads_train(model, head):
    classes = {"model.num_classes": 10} if model == "specgan" else {}   # GANSynth: its pitches
    cfg = tiny_config(model, **classes, **{"model.class_head": head, "train.n_critic": 1,
                                           "train.loss": "non-saturating",
                                           "train.r1_weight": 1.0})
    state, metrics = _run(cfg, jax.devices()[:1], n_steps=2)
    assert all(np.isfinite(v) for v in metrics[-1].values())
    assert ("d_ac" in metrics[-1] and "g_ac" in metrics[-1]) == (head != "projection")
    assert ("class_embedding" in state.d_params) == ("projection" in head)


def test_gansynth_pitch_template_trains_through_r1():
    # "g+d" makes D read the labels with a plain AC head: the step must pass them to every D
    # call, the R1 penalty's included.
    cfg = tiny_config("gansynth", **{"model.pitch_template": "g+d", "model.class_head": "ac",
                                     "train.loss": "non-saturating", "train.r1_weight": 1.0,
                                     "train.r1_every": 1})
    state, metrics = _run(cfg, jax.devices()[:1], n_steps=2)
    assert all(np.isfinite(v) for v in metrics[-1].values()) and metrics[-1]["r1"] > 0
    assert state.d_params["block_1_from_rgb"]["kernel"].shape[2] == 4   # [mag, IF] + template
    assert state.g_params["block_2_conv0"]["kernel"].shape[2] == 8 + 2


def test_diffaug_changes_what_d_sees_and_trains():
    kw = {"train.n_critic": 1, "train.loss": "non-saturating", "train.r1_weight": 1.0}
    _, plain = _run(tiny_config("specgan", **kw), jax.devices()[:1], n_steps=2)
    _, aug = _run(tiny_config("specgan", **kw, **{"train.diffaug": "translation,cutout"}),
                  jax.devices()[:1], n_steps=2)
    assert all(np.isfinite(v) for v in aug[-1].values())
    # The same batches, G and D at step 0: only the augmentation moves D's scores.
    assert aug[0]["d_real"] != plain[0]["d_real"] and aug[0]["d_fake"] != plain[0]["d_fake"]
    with pytest.raises(config_lib.ConfigError, match="train.diffaug: unknown augmentation"):
        T.validate(tiny_config(**{"train.diffaug": "flip"}))


def test_class_conditional_needs_labels_in_range(tmp_path):
    # The embedded sounds have labels 0-9: a 5-class model cannot train on them.
    cfg = tiny_config(**{"model.num_classes": 5, "train.steps": 1})
    with pytest.raises(config_lib.ConfigError, match=r"model.num_classes=5 needs a class label 0..4"):
        T.train(cfg, tmp_path / "run", progress=False, devices=jax.devices()[:1])
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_bad_train_settings_are_refused():
    with pytest.raises(config_lib.ConfigError, match="train.optimizer"):
        T.validate(tiny_config(**{"train.optimizer": "sgd"}))
    with pytest.raises(ValueError, match="train.loss"):
        T.validate(tiny_config(**{"train.loss": "wasserstein"}))
    with pytest.raises(config_lib.ConfigError, match="train.ema"):
        T.validate(tiny_config(**{"train.ema": "1.0"}))
    with pytest.raises(config_lib.ConfigError, match=r"truncation must be in \(0, 1\], got 0.0"):
        T.validate(tiny_config(**{"truncation": "0"}))


def test_classifier_scores_snapshots_while_training(tiny_classifier, tmp_path):
    folder, _ = tiny_classifier
    cfg = tiny_config(**{"train.steps": "2", "train.classifier": str(folder), "train.eval_every": "1",
                         "train.eval_n": "12"})
    T.train(cfg, tmp_path / "run", progress=False, devices=jax.devices()[:1])
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2] and all(r["n"] == 12 for r in lines)
    assert all(1.0 <= r["is_all"] <= 10.0 and r["fd"] > 0 and sum(r["histogram"]) == 12 for r in lines)
    assert "is_mean" in lines[0]   # 12 clips make 10 splits
    tags = {v.tag for e in tb_events(tmp_path / "run" / "tb") for v in e.summary.value}
    assert {"eval/is_all", "eval/fd", "eval/ndb", "eval/jsd"} <= set(tags)
    with pytest.raises(config_lib.ConfigError, match="train.eval_every needs train.classifier"):
        T.validate(tiny_config(**{"train.eval_every": "5"}))
    with pytest.raises(FileNotFoundError, match="classifier.json: missing"):
        T.train(tiny_config(**{"train.classifier": str(tmp_path / "none"), "train.eval_every": "1"}),
                tmp_path / "run2", progress=False, devices=jax.devices()[:1])


def test_gansynth_d_loss_has_the_reference_terms():
    """L_D = mean D(fake) - mean D(real) + 10 GP + 0.001 mean D(real)^2 + 10 CE(cls(real), c)
    (gansynth.md §2.8), checked on the first step, where D is still at its init: D's terms
    on real data are recomputed here from the networks."""
    from gan_jax.models import gansynth as gs

    cfg = tiny_config("gansynth")
    assert cfg.train.g_first and cfg.train.drift_weight == 0.001 and cfg.train.d_ac_weight == 10
    mesh = T.make_mesh(jax.devices()[:1])
    state = T.create_state(cfg, mesh)
    d_params = jax.device_get(state.d_params)
    audio, labels = _batches(cfg, 1)[0]
    stats = _stats(cfg)
    _, m = T.compile_step(cfg, mesh, 0)(state, T.shard_batch(mesh, (audio, labels), 8), stats)

    real = gs.blend_images(cfg.model, gs.encode(cfg.model, audio[0]), 0)
    logits, cls = gs.Discriminator(cfg.model, 0).apply({"params": d_params}, real)
    assert float(m["d_real"]) == pytest.approx(float(jnp.mean(logits)), rel=1e-5)
    ac = float(cross_entropy(cls, labels[0]))
    assert float(m["d_ac"]) == pytest.approx(ac, rel=1e-5)
    expected = (float(m["d_fake"]) - float(m["d_real"]) + 10 * float(m["gp"])
                + 0.001 * float(jnp.mean(logits ** 2)) + 10 * ac)
    assert float(m["d_loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(m["stage"]) == 0 and float(m["alpha"]) == 1.0
    assert np.isfinite(float(m["g_ac"])) and float(m["gp"]) > 0


@pytest.mark.parametrize("n_critic", [1, 2])
def test_static_r1_executables_equal_the_traced_step(n_critic):
    # The loop passes r1 (static) and so runs two executables, and n_critic=1 skips the scan;
    # both must compute exactly what the one traced step (lax.cond, lax.scan) computes.
    cfg = tiny_config(**{"train.loss": "non-saturating", "train.n_critic": str(n_critic),
                         "train.r1_weight": "2", "train.r1_every": "2",
                         "model.mbstd_group": "2"})
    mesh, stats = T.make_mesh(jax.devices()[:1]), _stats(cfg)
    step = T.compile_step(cfg, mesh)
    traced, static = T.create_state(cfg, mesh), T.create_state(cfg, mesh)   # donated: two
    for i, real in enumerate(_batches(cfg, 2)):
        real = T.shard_batch(mesh, real, cfg.train.batch_size)
        traced, m_traced = step(traced, real, stats)
        static, m_static = step(static, real, stats, i % 2 == 0)
        assert (float(m_static["r1"]) > 0) == (i % 2 == 0)
        for k in m_traced:
            np.testing.assert_allclose(m_static[k], m_traced[k], rtol=2e-5, atol=1e-7, err_msg=k)
    for a, b in zip(jax.tree.leaves(static.d_params), jax.tree.leaves(traced.d_params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_mbstd_penalty_grad_changes_only_the_penalty():
    # Holding D's minibatch-stddev channel in R1 leaves D's logits and loss terms as they
    # were and changes R1 (the gradient no longer flows across examples; at init the channel
    # moves D's logit little, so R1 by ~4e-4 of itself, against ~1e-7 for rounding).
    m = {grad: _one_step(True, **{"train.loss": "non-saturating", "train.n_critic": "1",
                                  "train.r1_weight": "2", "model.mbstd_group": "4",
                                  "model.mbstd_penalty_grad": grad})[1]
         for grad in ("true", "false")}
    for k in ("d_real", "d_fake"):
        np.testing.assert_allclose(m["false"][k], m["true"][k], rtol=1e-6, err_msg=k)
    r1_held, r1_full = float(m["false"]["r1"]), float(m["true"]["r1"])
    assert r1_held > 0 and abs(r1_held - r1_full) > 2e-5 * r1_full


def test_mode_seeking_changes_only_g():
    # The term is G's alone: D's update is the same with it on, G's differs, and the step
    # reports it (the inverse output/latent distance ratio of the paired halves, > 0).
    (plain, m0), (seeking, m1) = (
        _one_step(**{"model.num_classes": "3", "train.n_critic": "1", "train.g_mode_seeking": w})
        for w in ("0", "1"))
    assert "g_mode_seeking" not in m0 and float(m1["g_mode_seeking"]) > 0
    for a, b in zip(jax.tree.leaves(plain.d_params), jax.tree.leaves(seeking.d_params)):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in
                   zip(jax.tree.leaves(plain.g_params), jax.tree.leaves(seeking.g_params)))


def test_d_mismatch_scores_real_clips_with_wrong_labels_as_fake():
    # The term adds weight * (fake half of D's loss on reals given other labels) to D's loss
    # and leaves D's scores of real and fake as they were; it is linear in its weight (the
    # wrong labels come from the step's key, the same for every weight).
    m = {w: _one_step(**{"model.num_classes": "3", "model.class_head": "projection",
                         "train.loss": "non-saturating", "train.n_critic": "1",
                         "train.d_mismatch": w})[1]
         for w in ("0", "1", "2")}
    for k in ("d_real", "d_fake"):
        assert float(m["1"][k]) == float(m["0"][k]) == float(m["2"][k]), k
    term = float(m["1"]["d_loss"]) - float(m["0"]["d_loss"])
    assert term > 0.1   # 0.5 softplus(logit) with logits near 0 at init: ~0.35
    assert float(m["2"]["d_loss"]) - float(m["0"]["d_loss"]) == pytest.approx(2 * term, rel=1e-4)
    # A conditional D without a projection is refused; unconditional, the option does
    # nothing (the quick preset's weight with model.num_classes=0 on unlabelled audio).
    with pytest.raises(config_lib.ConfigError, match="train.d_mismatch needs"):
        T.validate(tiny_config(**{"model.num_classes": "3", "model.class_head": "ac",
                                  "train.d_mismatch": "1"}))
    T.validate(tiny_config(**{"train.d_mismatch": "1"}))
    _, plain = _one_step(**{"train.loss": "non-saturating", "train.n_critic": "1"})
    _, inert = _one_step(**{"train.loss": "non-saturating", "train.n_critic": "1",
                            "train.d_mismatch": "1"})
    assert float(inert["d_loss"]) == float(plain["d_loss"])


def test_d_conv_impl_serves_the_plain_steps_only():
    # SpecGAN's quick preset runs D's convs in XLA's form except under the R1 double backward:
    # the same numbers as the phase form throughout (RMSProp: see the 8-device test).
    over = {"train.loss": "non-saturating", "train.n_critic": "1", "train.r1_weight": "2",
            "train.r1_every": "2", "train.optimizer": "rmsprop", "train.lr": "1e-3"}
    mesh = T.make_mesh(jax.devices()[:1])
    runs = []
    for impl in ("", "xla"):
        cfg = tiny_config("specgan", **over, **{"model.d_conv_impl": impl})
        stats, step, state = _stats(cfg), T.compile_step(cfg, mesh), T.create_state(cfg, mesh)
        metrics = []
        for i, real in enumerate(_batches(cfg, 3)):
            state, m = step(state, T.shard_batch(mesh, real, cfg.train.batch_size), stats, i % 2 == 0)
            metrics.append(m)
        runs.append((jax.device_get(state), metrics))
    (s_phase, m_phase), (s_xla, m_xla) = runs
    for a, b in zip(m_phase, m_xla):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-6, err_msg=k)
    for a, b in zip(jax.tree.leaves(s_phase.d_params), jax.tree.leaves(s_xla.d_params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="model.d_conv_impl"):
        tiny_config("specgan", **{"model.d_conv_impl": "cudnn"})


def test_lazy_r1_is_applied_every_k_steps_with_weight_k():
    cfg = tiny_config(**{"train.loss": "non-saturating", "train.n_critic": 1, "train.r1_weight": "2",
                         "train.r1_every": "3"})
    _, metrics = _run(cfg, jax.devices()[:1], n_steps=4)
    r1 = [m["r1"] for m in metrics]
    assert r1[0] > 0 and r1[3] > 0 and r1[1] == r1[2] == 0.0
    # On an R1 step L_D = NS loss + gamma / 2 * k * R1 (gamma 2, k 3).
    ns = [m["d_loss"] - 3.0 * m["r1"] for m in metrics]
    assert all(0.0 < v < 2.0 for v in ns), ns


def test_d_lr_sets_the_discriminator_learning_rate_only():
    """Adam's first step moves every parameter by about its learning rate (sign(g) * lr)."""
    cfg = tiny_config(**{"train.n_critic": 1, "train.lr": "1e-3", "train.d_lr": "4e-3"})
    fresh = T.init_state(cfg, jax.random.key(cfg.seed))
    state, _ = _run(cfg, jax.devices()[:1], n_steps=1)
    moved = lambda a, b: max(float(jnp.abs(x - y).max()) for x, y in
                             zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    assert moved(state.g_params, fresh.g_params) == pytest.approx(1e-3, rel=0.02)
    assert moved(state.d_params, fresh.d_params) == pytest.approx(4e-3, rel=0.02)


@pytest.mark.parametrize("net,lr", [("g", 1e-3), ("d", 4e-3)])
def test_lr_decay_steps_falls_linearly_to_zero(net, lr):
    from gan_jax.state import make_optimizer
    tc = config_lib.TrainConfig(lr=1e-3, d_lr=4e-3, lr_decay_steps=4)
    opt, p = make_optimizer(tc, net), jnp.zeros(3)
    opt_state, moves = opt.init(p), []
    for _ in range(6):   # Adam with a constant gradient moves by ~lr(t) per update
        update, opt_state = opt.update(jnp.ones(3), opt_state, p)
        moves.append(float(-update[0]))
    np.testing.assert_allclose(moves, lr * np.array([1, 0.75, 0.5, 0.25, 0, 0]), rtol=1e-3, atol=1e-9)


@pytest.mark.parametrize("model", ["wavegan", "specgan", "gansynth"])
def test_bf16_tracks_f32_and_keeps_float32_state(model):
    f32 = tiny_config(model, **{"model.dim": "4"} if model != "gansynth" else {})
    bf16 = config_lib.override_all(f32, [("train.precision", "bf16")])
    s32, m32 = _run(f32, jax.devices()[:1], n_steps=3)
    s16, m16 = _run(bf16, jax.devices()[:1], n_steps=3)
    for a, b in zip(m32, m16):   # bf16 keeps 8 bits of mantissa: ~0.4 % per rounding
        for key in ("d_loss", "g_loss", "gp", "d_real", "d_fake"):
            assert b[key] == pytest.approx(a[key], rel=0.05, abs=0.05), (key, a[key], b[key])
    dtypes = {leaf.dtype for leaf in jax.tree.leaves(
        (s16.g_params, s16.d_params, s16.g_opt, s16.d_opt, s16.g_state, s16.d_state))
        if jnp.issubdtype(leaf.dtype, jnp.floating)}
    assert dtypes == {jnp.dtype("float32")}
    # ... while every convolution and matmul of G and D computes in bfloat16. (The spectral
    # transforms that encode real audio, DFT and mel matmuls at HIGHEST precision, stay f32.)
    mesh = T.make_mesh(jax.devices()[:1])
    real = T.shard_batch(mesh, _batches(bf16, 1)[0], bf16.train.batch_size)
    stage = T.progress_at(bf16, 0)[0]
    hlo = T.compile_step(bf16, mesh, stage).lower(T.create_state(bf16, mesh), real,
                                                    _stats(bf16)).as_text()
    ops = [line for line in hlo.splitlines()
           if ("convolution(" in line or "dot_general" in line) and "HIGHEST" not in line]
    assert ops and all("bf16" in line for line in ops), [o for o in ops if "bf16" not in o][:3]
