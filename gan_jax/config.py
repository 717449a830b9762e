"""Run configuration: frozen dataclasses, dotted overrides, JSON round trip.

A `Config` is hashable, so it can be a static argument of jitted functions, and
it is saved as `config.json` in every run directory. Model-specific settings live
in the model's own dataclass (`Config.model`), chosen by `Config.model_name`.
Presets are plain functions in `configs/<model>.py` that return a `Config`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from typing import Any


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataConfig:
    path: str = ""                  # audio folder; "" = the embedded default dataset
    sample_rate: int = 16000        # every file is resampled to this rate
    normalize: bool = True          # per-clip peak normalisation
    slicing: str = "first"          # "first": first slice, zero-padded; "random": random windows
    split: str = "all"              # "all" | "train" | "test" (FSDD's official split)
    embedded_per_class: int = 100   # embedded data: clips per class (10 classes), or notes per pitch


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    loss: str = "wgan-gp"           # see gan_jax.losses.LOSSES
    gp_weight: float = 10.0         # WGAN-GP lambda
    gp_target: float = 1.0          # WGAN-GP: the gradient norm aimed at
    drift_weight: float = 0.0       # + weight * mean(D(real)^2) in L_D (PGGAN/GANSynth: 0.001)
    d_ac_weight: float = 10.0       # conditional models: weight of the auxiliary classifier's
    g_ac_weight: float = 10.0       #   cross-entropy on real data in L_D, on fakes in L_G
    d_mismatch: float = 0.0         # a projection D also scores real examples with wrong labels as
                                    #   fake, with this weight (GAN-INT-CLS's matching-aware D;
                                    #   not in the papers); 0 = off
    g_mode_seeking: float = 0.0     # weight of MSGAN's mode-seeking term in L_G (not in the
                                    #   papers; losses.mode_seeking); 0 = off
    g_first: bool = False           # update G before D in each step (GANSynth's TF-GAN order)
    clip: float = 0.01              # weight clipping bound of loss="wgan"
    r1_weight: float = 0.0          # R1 gamma: + gamma/2 E|dD(x)/dx|^2 on real x in L_D; 0 = off
    r1_every: int = 1               # lazy R1 (StyleGAN2): on every k-th step only, weighted by k
    diffaug: str = ""               # D's inputs augmented (DiffAugment): "translation", "cutout",
                                    #   comma-separated (gan_jax.augment); "" = off (papers)
    n_critic: int = 5               # D updates per G update
    batch_size: int = 64            # global batch; must divide by the number of devices
    optimizer: str = "adam"         # "adam" | "rmsprop" | "reference" (the reference's choice per loss)
    lr: float = 1e-4
    d_lr: float = 0.0               # D's learning rate, if not lr (TTUR); 0 = lr
    lr_decay_steps: int = 0         # both learning rates fall linearly to 0 over this many of
                                    #   an optimiser's updates (n_critic per step for D; restarted
                                    #   with the optimisers at a GANSynth stage), then stay 0;
                                    #   0 = constant (papers). Resumable: raise it with train.steps
    b1: float = 0.5
    b2: float = 0.9
    precision: str = "f32"          # compute dtype of G and D: "f32" | "bf16" (params, optimiser
                                    #   state, losses and penalties stay float32)
    ema: float = 0.0                # decay of an EMA of G used for sampling; 0 = off
    ema_warmup: bool = False        # decay min(ema, (1 + t) / (10 + t)) at step t (TF's
                                    #   num_updates), so a slow EMA forgets the initial weights
    steps: int = 200_000            # G steps; the paper stopped at ~200k
    log_every: int = 100            # scalars to TensorBoard
    sample_every: int = 2000        # audio (and images) to TensorBoard
    ckpt_every: int = 1000
    keep: int = 3                   # checkpoints kept
    num_samples: int = 4            # clips written to TensorBoard
    debug_nan_at_step: int = 0      # tests: G step k sees a NaN batch, so the run diverges; 0 = off
    classifier: str = ""            # a folder from `evaluate.py classifier`: score G while training
    eval_every: int = 0             # with classifier: IS/FD/NDB every N steps, to TensorBoard and
    eval_n: int = 256               #   <workdir>/metrics.jsonl, from eval_n clips (scores depend on n)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    model_name: str
    model: Any                      # the model's own frozen dataclass
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    seed: int = 0
    # Sampling, not training: drawn latents are scaled by this (the truncation trick of
    # BigGAN / StyleGAN's psi, towards the mean latent 0): clearer, more typical clips for
    # less variety within a class. 1 = off (papers). Explicit latents are used as given.
    truncation: float = 1.0


class ConfigError(ValueError):
    """A bad key or value in a config override or a saved config.json."""


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(d: dict, source: str = "config") -> Config:
    from gan_jax.models import get_model   # models import config; resolve lazily
    d = dict(d)
    try:
        model_cls = get_model(d["model_name"]).config_cls
    except KeyError as e:
        raise ConfigError(f"{source}: missing or unknown model_name ({e})") from None
    fields = {
        "model": _build(model_cls, d.pop("model", {}), f"{source}: model"),
        "data": _build(DataConfig, d.pop("data", {}), f"{source}: data"),
        "train": _build(TrainConfig, d.pop("train", {}), f"{source}: train"),
    }
    return _build(Config, {**d, **fields}, source)


def _build(cls, d, where):
    if dataclasses.is_dataclass(d):
        return d
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    return cls(**{k: _coerce(v, hints[k], f"{where}.{k}") for k, v in d.items()})


def _coerce(v, typ, where):
    """JSON values back to the field's type (lists -> tuples keep the config hashable)."""
    if typ is Any or dataclasses.is_dataclass(v):
        return v
    if typing.get_origin(typ) is tuple:
        return tuple(v)
    if typ is float and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if typ in (int, float, str, bool) and not isinstance(v, typ):
        raise ConfigError(f"{where}: expected {typ.__name__}, got {v!r}")
    return v


def parse_value(text: str, typ, key: str):
    """A command-line string to the type of the config field `key`."""
    if typ is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true/false, got {text!r}")
    if typing.get_origin(typ) is tuple:
        (elem, *_) = typing.get_args(typ)
        return tuple(parse_value(t.strip(), elem, key) for t in text.split(",") if t.strip())
    if isinstance(typ, types.UnionType):
        typ = next(t for t in typing.get_args(typ) if t is not type(None))
    try:
        return typ(text)
    except ValueError:
        raise ConfigError(f"{key}: expected {typ.__name__}, got {text!r}") from None


def override_all(cfg: Config, items) -> Config:
    """Returns cfg with every (dotted key, text) of `items` set, validated once at the end,
    so interdependent keys (e.g. model.num_resolutions and model.slice_len) can be given in
    any order."""
    d = to_dict(cfg)
    for key, text in items:
        node, parts = d, key.split(".")
        value = parse_value(text, _field_type(cfg, key), key)
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    try:
        return from_dict(d)
    except ConfigError:
        raise
    except ValueError as e:   # a model config's own validation (__post_init__)
        raise ConfigError(str(e)) from None


def _field_type(cfg, key: str, _prefix: str = ""):
    """The type of the dotted config field `key`; ConfigError naming the valid keys if none."""
    head, _, rest = key.partition(".")
    full = _prefix + key
    names = {f.name for f in dataclasses.fields(cfg)}
    if head not in names or head == "model_name":
        valid = ", ".join(_prefix + k for k in keys(cfg))
        raise ConfigError(f"unknown config key {full!r}; valid keys: {valid}")
    value = getattr(cfg, head)
    if rest:
        if not dataclasses.is_dataclass(value):
            raise ConfigError(f"config key {_prefix + head!r} has no sub-keys (got {full!r})")
        return _field_type(value, rest, f"{_prefix}{head}.")
    if dataclasses.is_dataclass(value):
        raise ConfigError(f"config key {full!r} is a section; set one of its keys, e.g. {full}.x=...")
    return typing.get_type_hints(type(cfg))[head]


def keys(cfg, prefix: str = "") -> list[str]:
    out = []
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            out += keys(v, f"{prefix}{f.name}.")
        elif f.name != "model_name":
            out.append(prefix + f.name)
    return out


def diff(a: Config, b: Config, ignore: tuple[str, ...] = ()) -> list[str]:
    """Dotted keys whose values differ between two configs."""
    fa, fb = _flatten(to_dict(a)), _flatten(to_dict(b))
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k) and k not in ignore)


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = list(v) if isinstance(v, tuple) else v
    return out


def save_json(cfg: Config, path) -> None:
    """Writes to a temporary file first: a crash never leaves a half-written config.json."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(to_dict(cfg), f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def load_json(path) -> Config:
    try:
        with open(path) as f:
            d = json.load(f)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    return from_dict(d, source=str(path))
