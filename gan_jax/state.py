"""The run state: what a checkpoint holds, how a fresh one is made, what sampling needs of it.

Both the training loop (`train.py`) and the sampling API (`sampling.py`) import this module;
neither imports the other's internals. `generator_shapes` builds only G, so `load()` never
traces D or the optimisers just to learn G's shapes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import config as config_lib
from gan_jax import losses
from gan_jax.models import get_model, make_nets


class GANState(NamedTuple):
    step: jax.Array        # G updates done
    g_params: Any
    g_state: Any           # G's non-parameter variables (batch-norm statistics); {} if none
    d_params: Any
    d_state: Any
    g_opt: Any
    d_opt: Any
    ema: Any               # EMA of g_params when train.ema > 0, else ()
    key: jax.Array         # typed PRNG key; folded with step inside the step


def make_optimizer(tc: config_lib.TrainConfig, net: str = "g") -> optax.GradientTransformation:
    """The optimiser of G (net "g") or D ("d"); they differ only by train.d_lr."""
    opt = dict(optimizer=tc.optimizer, lr=tc.lr, b1=tc.b1, b2=tc.b2)
    if tc.optimizer == "reference":
        opt.update(losses.REFERENCE_OPTIMIZERS[tc.loss])
    if net == "d" and tc.d_lr > 0:
        opt["lr"] = tc.d_lr
    if tc.lr_decay_steps:
        opt["lr"] = optax.linear_schedule(opt["lr"], 0.0, tc.lr_decay_steps)
    if opt["optimizer"] == "adam":
        return optax.adam(opt["lr"], b1=opt["b1"], b2=opt["b2"])
    if opt["optimizer"] == "rmsprop":
        # TF1's RMSProp: decay 0.9, epsilon 1e-10 and a mean square that starts at 1.
        return optax.rmsprop(opt["lr"], decay=0.9, eps=1e-10, initial_scale=1.0)
    raise config_lib.ConfigError(
        f"train.optimizer must be adam, rmsprop or reference, got {tc.optimizer!r}")


def _split_vars(variables):
    variables = dict(variables)
    return variables.pop("params"), variables


def _init_generator(nets, k_g, k_z):
    """(G's params, G's other variables, the z and labels it was built with)."""
    z, labels = nets.inputs(k_z, 1, {})
    g_params, g_state = _split_vars(nets.G.init(k_g, *nets.g_inputs(z, labels), train=False))
    return g_params, g_state, z, labels


def init_state(cfg: config_lib.Config, key) -> GANState:
    """A fresh GANState from `key` (pure: jit it with out_shardings to build it on devices).

    Progressive models build every block at init, so the state has the same tree at every
    stage (`gansynth.py`).
    """
    nets = make_nets(cfg.model_name, cfg.model)
    k_g, k_d, k_z, k_rng, k_run = jax.random.split(key, 5)
    g_params, g_state, z, labels = _init_generator(nets, k_g, k_z)
    x = nets.generate(g_params, g_state, z, labels)[0]
    rngs = {"params": k_d, **{name: k_rng for name in nets.model.d_rngs}}
    d_params, d_state = _split_vars(nets.D.init(rngs, x, **nets.d_label_kw(labels)))
    return GANState(
        step=jnp.zeros((), jnp.int32), g_params=g_params, g_state=g_state,
        d_params=d_params, d_state=d_state, g_opt=make_optimizer(cfg.train).init(g_params),
        d_opt=make_optimizer(cfg.train, "d").init(d_params),
        ema=g_params if cfg.train.ema > 0 else (), key=k_run)


def generator_shapes(cfg: config_lib.Config) -> dict:
    """The shapes of `generator_item` (ShapeDtypeStructs), from G alone."""
    def init():
        nets = make_nets(cfg.model_name, cfg.model)
        g_params, g_state, _, _ = _init_generator(nets, *jax.random.split(jax.random.key(0)))
        return {"params": g_params, "state": g_state}
    return jax.eval_shape(init)


def reset_optimizers(cfg: config_lib.Config, state: GANState) -> GANState:
    """Fresh optimiser states (GANSynth resets Adam at every stage, `gansynth.md` §2.7)."""
    return state._replace(g_opt=make_optimizer(cfg.train).init(state.g_params),
                          d_opt=make_optimizer(cfg.train, "d").init(state.d_params))


def progress_at(cfg: config_lib.Config, step: int) -> tuple[int | None, float]:
    """(stage, alpha) after `step` G steps of step x batch images; (None, 1.0) for models
    that do not grow. Derived from the step alone, so a resumed run continues exactly."""
    return get_model(cfg.model_name).schedule(cfg.model, step * cfg.train.batch_size)


def generator_item(cfg: config_lib.Config, state: GANState) -> dict:
    """What sampling needs of the state: G's (EMA) parameters and its other variables."""
    return {"params": state.ema if cfg.train.ema > 0 else state.g_params, "state": state.g_state}


def stats_to_json(stats) -> dict:
    return {k: np.asarray(v).tolist() for k, v in stats.items()}


def stats_from_json(d) -> dict:
    return {k: np.asarray(v, np.float32) for k, v in (d or {}).items()}
