"""The one train step every model shares, as module-level pure functions.

Each is a function of `(cfg, stage, ...)`: the run config and, for a progressive model, its
static stage (None otherwise), then arrays. `train.compile_step` jits `train_step` with both
fixed. One call does `n_critic` D updates (a `lax.scan` over n_critic real batches) and one G
update (before them with `train.g_first`, TF-GAN's order); `GANState.step` counts G updates,
as the reference's global_step does.

Lazy R1 (`train.r1_every`): the train loop passes `r1` (static: whether this step is an R1
step), so it runs two executables, one with the double backward and one without, as
StyleGAN2 does. With r1=None the step decides itself, under `lax.cond`: correct, but XLA:CPU
runs some second-order graphs (D with a minibatch-stddev channel: 12x) far slower inside a
conditional branch.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax

from gan_jax import augment, losses
from gan_jax import config as config_lib
from gan_jax.models import get_model, make_nets
from gan_jax.state import GANState, make_optimizer


def alpha_at(cfg: config_lib.Config, stage: int | None, step):
    """The fade-in weight of a progressive model's newest block after `step` G steps (traced);
    1 for models that do not grow."""
    if stage is None:
        return jnp.ones((), jnp.float32)
    images = step * cfg.train.batch_size
    return jnp.asarray(get_model(cfg.model_name).stage_alpha(cfg.model, stage, images),
                       jnp.float32)


def _nets(cfg: config_lib.Config, stage, penalty: bool):
    """The step's nets. A gradient penalty's double backward runs D's convs in the
    model's conv_impl; every other graph in its d_conv_impl, if it has one."""
    model = cfg.model
    if penalty and getattr(model, "d_conv_impl", ""):
        model = dataclasses.replace(model, d_conv_impl="")
    return make_nets(cfg.model_name, model, stage, cfg.train.precision)


def _penalty_nets(nets):
    """The nets whose D a gradient penalty differentiates, that D marked as such where it
    takes the mark (wavegan.Discriminator.in_penalty: it then holds its minibatch-stddev
    channel constant when `model.mbstd_penalty_grad` is off)."""
    return nets._replace(D=nets.D.clone(in_penalty=True)) if hasattr(nets.D, "in_penalty") else nets


def _d_fn(nets, tc: config_lib.TrainConfig, d_params, d_state, alpha):
    """(x, key, labels) -> D's (logits, class logits), on x through `train.diffaug`'s
    augmentations (drawn from the key) when there are any: the same for reals and fakes,
    in D's and G's updates and inside the penalties (gan_jax.augment)."""
    names = augment.parse(tc.diffaug)

    def d(x, key, labels):
        if names:
            key, k_aug = jax.random.split(key)
            x = augment.apply(names, x, k_aug)
        return nets.discriminate(d_params, d_state, x, key, alpha, labels)
    return d


def critic_loss(cfg: config_lib.Config, stage, d_params, d_state, real, real_labels, fake,
                fake_labels, keys, alpha, r1_on):
    """D's loss on one real and one fake batch: (loss, (mean D(real), mean D(fake), GP, AC,
    R1)). keys: (interpolation, D on real, D on fake, D in the GP). r1_on: whether this is a
    lazy-R1 step (a Python bool, or a traced one: then under lax.cond). A projection D
    scores the penalties' inputs with the real labels."""
    tc = cfg.train
    nets = _nets(cfg, stage, tc.loss == "wgan-gp" or (tc.r1_weight > 0 and r1_on is not False))
    k_mix, k_real, k_fake, k_gp = keys
    d_fn = _d_fn(nets, tc, d_params, d_state, alpha)
    d = lambda x, k, y=real_labels: d_fn(x, k, y)
    d_pen_fn = _d_fn(_penalty_nets(nets), tc, d_params, d_state, alpha)
    d_pen = lambda x: d_pen_fn(x, k_gp, real_labels)[0]
    mismatch = tc.d_mismatch and nets.model.d_labels(nets.cfg)   # none if unconditional
    if mismatch:   # a projection D, which scores [B, 2] labels at once (train.validate)
        # Real clips also with a label each of another class, to be scored as fakes: D learns
        # that a real sound of one class given another's label is not real, which is how a G
        # that answers one class with another class's sound goes wrong (Reed et al. 2016's
        # matching-aware D). Only the projection differs, so one pass of D scores both.
        k = nets.num_classes
        other = jax.random.randint(jax.random.fold_in(k_real, 1), real_labels.shape, 1, k)
        logits_2, cls_real = d(real, k_real, jnp.stack([real_labels, (real_labels + other) % k], -1))
        logits_real, logits_wrong = logits_2[:, 0], logits_2[:, 1]
    else:
        logits_real, cls_real = d(real, k_real)
    logits_fake, cls_fake = d(fake, k_fake, fake_labels)
    loss = losses.d_loss(tc.loss, logits_real, logits_fake)
    gp = ac = r1 = jnp.zeros(())
    if mismatch:
        loss = loss + tc.d_mismatch * losses.d_fake_term(tc.loss, logits_wrong)
    if tc.loss == "wgan-gp":
        mix = jax.random.uniform(k_mix, (real.shape[0],) + (1,) * (real.ndim - 1))
        gp = losses.gradient_penalty(d_pen, real, fake, mix, tc.gp_target,
                                     nets.model.gp_scale(cfg.model))
        loss = loss + tc.gp_weight * gp
    if tc.r1_weight:
        penalty = lambda: losses.r1_penalty(d_pen, real)
        if isinstance(r1_on, bool):
            r1 = penalty() if r1_on else jnp.zeros(())
        else:   # the CPU executes one branch: the double backward runs on R1 steps only
            r1 = jax.lax.cond(r1_on, penalty, lambda: jnp.zeros(()))
        loss = loss + 0.5 * tc.r1_weight * tc.r1_every * r1
    if tc.drift_weight:
        loss = loss + tc.drift_weight * jnp.mean(logits_real ** 2)
    if nets.auxiliary_classifier:
        ac = losses.d_class_loss(cls_real, real_labels, cls_fake, fake_labels,
                                 nets.logits_per_class)
        loss = loss + tc.d_ac_weight * ac
    return loss, (jnp.mean(logits_real), jnp.mean(logits_fake), gp, ac, r1)


def critic_update(cfg: config_lib.Config, stage, g_params, d_state, stats, alpha, r1_on, carry,
                  batch):
    """One D update on one real batch (a `lax.scan` body): carry (d_params, d_opt, g_state,
    key) -> (carry, metrics)."""
    nets, tc = make_nets(cfg.model_name, cfg.model, stage, cfg.train.precision), cfg.train
    d_params, d_opt, g_state, key = carry
    real_audio, real_labels = batch
    key, k_in, *k_loss = jax.random.split(key, 6)
    real = nets.model.blend_real(cfg.model, nets.model.encode(cfg.model, real_audio, stats),
                                 stage, alpha)
    z, fake_labels = nets.inputs(k_in, real_audio.shape[0], stats)
    fake, g_state = nets.generate(g_params, g_state, z, fake_labels, alpha, train=True)
    (loss, (d_real, d_fake, gp, ac, r1)), grads = jax.value_and_grad(
        critic_loss, 2, has_aux=True)(cfg, stage, d_params, d_state, real, real_labels, fake,
                                      fake_labels, tuple(k_loss), alpha, r1_on)
    updates, d_opt = make_optimizer(tc, "d").update(grads, d_opt, d_params)
    d_params = optax.apply_updates(d_params, updates)
    if tc.loss == "wgan":
        d_params = jax.tree.map(lambda p: jnp.clip(p, -tc.clip, tc.clip), d_params)
    metrics = dict(d_loss=loss, gp=gp, d_real=d_real, d_fake=d_fake,
                   d_grad_norm=optax.tree.norm(grads))
    if nets.auxiliary_classifier:
        metrics["d_ac"] = ac
    if tc.r1_weight:
        metrics["r1"] = r1
    return (d_params, d_opt, g_state, key), metrics


def critic_updates(cfg: config_lib.Config, stage, state: GANState, batch, key, stats, alpha,
                   r1: bool | None = None):
    """n_critic D updates, one per real batch of `batch` [n_critic, B, ...]; the metrics are
    the last update's. Lazy R1 applies to all of them on every r1_every-th step (r1: whether
    this is one, if the caller knows; None: decided from state.step)."""
    r1_on = state.step % cfg.train.r1_every == 0 if r1 is None else bool(r1)
    update = functools.partial(critic_update, cfg, stage, state.g_params, state.d_state, stats,
                               alpha, r1_on)
    carry = (state.d_params, state.d_opt, state.g_state, key)
    if batch[0].shape[0] == 1:
        # No scan for one update: XLA:CPU runs second-order graphs (R1, GP) inside a loop
        # body up to 10x slower than the same graph outside one.
        (d_params, d_opt, g_state, _), metrics = update(carry, jax.tree.map(lambda a: a[0], batch))
    else:
        (d_params, d_opt, g_state, _), dm = jax.lax.scan(update, carry, batch)
        metrics = {k: v[-1] for k, v in dm.items()}
    return state._replace(d_params=d_params, d_opt=d_opt, g_state=g_state), metrics


def generator_update(cfg: config_lib.Config, stage, state: GANState, b: int, key, stats, alpha):
    """One G update on `b` fakes."""
    nets, tc = _nets(cfg, stage, penalty=False), cfg.train
    k_in, k_d = jax.random.split(key)
    z, labels = nets.inputs(k_in, b, stats)
    half = b // 2
    if tc.g_mode_seeking:   # the second half's latents pair with the first's, for the same labels
        labels = labels.at[half:2 * half].set(labels[:half])

    def g_loss_fn(g_params):
        fake, new_g_state = nets.generate(g_params, state.g_state, z, labels, alpha, train=True)
        logits, cls = _d_fn(nets, tc, state.d_params, state.d_state, alpha)(fake, k_d, labels)
        loss = losses.g_loss(tc.loss, logits)
        ac = (losses.g_class_loss(cls, labels, nets.logits_per_class)
              if nets.auxiliary_classifier else jnp.zeros(()))
        ms = (losses.mode_seeking(fake[:half], fake[half:2 * half], z[:half], z[half:2 * half])
              if tc.g_mode_seeking else jnp.zeros(()))
        return loss + tc.g_ac_weight * ac + tc.g_mode_seeking * ms, (new_g_state, ac, ms)

    (g_loss, (g_state, ac, ms)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
        state.g_params)
    updates, g_opt = make_optimizer(tc).update(g_grads, state.g_opt, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    metrics = dict(g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads))
    if nets.auxiliary_classifier:
        metrics["g_ac"] = ac
    if tc.g_mode_seeking:
        metrics["g_mode_seeking"] = ms
    return state._replace(g_params=g_params, g_state=g_state, g_opt=g_opt), metrics


def train_step(cfg: config_lib.Config, stage, state: GANState, batch, stats, r1: bool | None = None):
    """(state, (audio [n_critic, B, ...], labels [n_critic, B]), stats) -> (state, metrics).
    r1 (static): whether this is a lazy-R1 step, i.e. state.step % train.r1_every == 0;
    None: decided on the device."""
    tc = cfg.train
    k_d, k_g = jax.random.split(jax.random.fold_in(state.key, state.step))
    alpha = alpha_at(cfg, stage, state.step)
    b = batch[0].shape[1]
    if tc.g_first:   # TF-GAN's sequential hooks: one G step, then the D step(s)
        state, gm = generator_update(cfg, stage, state, b, k_g, stats, alpha)
        state, dm = critic_updates(cfg, stage, state, batch, k_d, stats, alpha, r1)
    else:
        state, dm = critic_updates(cfg, stage, state, batch, k_d, stats, alpha, r1)
        state, gm = generator_update(cfg, stage, state, b, k_g, stats, alpha)
    ema = state.ema
    if tc.ema > 0:
        decay = tc.ema
        if tc.ema_warmup:
            t = jnp.asarray(state.step, jnp.float32)
            decay = jnp.minimum(decay, (1.0 + t) / (10.0 + t))
        ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, state.g_params)
    state = state._replace(step=state.step + 1, ema=ema)
    metrics = {**dm, **gm, "wasserstein": dm["d_real"] - dm["d_fake"],
               "g_param_norm": optax.tree.norm(state.g_params),
               "d_param_norm": optax.tree.norm(state.d_params)}
    if stage is not None:
        metrics.update(stage=jnp.float32(stage), alpha=alpha)
    return state, metrics
