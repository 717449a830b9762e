"""Dotted overrides, JSON round trip and config diffs."""

import json

import pytest

import configs
from gan_jax import config as C


def test_overrides_parse_to_field_types():
    _, cfg = configs.get_config("wavegan", "reference")
    cfg = C.override_all(cfg, [("train.lr", "2e-4"), ("model.dim", "32"),
                               ("model.batchnorm", "true"), ("data.path", "/x"), ("seed", "7")])
    assert (cfg.train.lr, cfg.model.dim, cfg.model.batchnorm, cfg.data.path, cfg.seed) == \
        (2e-4, 32, True, "/x", 7)
    hash(cfg)   # static jit argument


@pytest.mark.parametrize("key,value,match", [
    ("train.nope", "1", "unknown config key 'train.nope'"),
    ("model.dim", "wide", "model.dim: expected int"),
    ("model.batchnorm", "maybe", "expected true/false"),
    ("train", "1", "is a section"),
    ("seed.x", "1", "has no sub-keys"),
    ("model.slice_len", "1000", "model.slice_len must be one of"),
])
def test_bad_overrides_name_the_key(key, value, match):
    _, cfg = configs.get_config("wavegan", "reference")
    with pytest.raises(C.ConfigError, match=match):
        C.override_all(cfg, [(key, value)])


def test_json_round_trip_and_diff(tmp_path):
    _, cfg = configs.get_config("wavegan", "small")
    C.save_json(cfg, tmp_path / "c.json")
    back = C.load_json(tmp_path / "c.json")
    assert back == cfg
    other = C.override_all(cfg, [("model.dim", "8"), ("train.steps", "5")])
    assert C.diff(cfg, other) == ["model.dim", "train.steps"]
    assert C.diff(cfg, other, ignore=("train.steps",)) == ["model.dim"]


def test_bad_saved_config_is_reported(tmp_path):
    p = tmp_path / "config.json"
    p.write_text("{not json")
    with pytest.raises(C.ConfigError, match="not valid JSON"):
        C.load_json(p)
    _, cfg = configs.get_config("wavegan", "small")
    d = C.to_dict(cfg)
    d["train"]["bogus"] = 1
    p.write_text(json.dumps(d))
    with pytest.raises(C.ConfigError, match="train: unknown key"):
        C.load_json(p)


def test_presets():
    assert configs.get_config("wavegan", "auto")[0] == "quick"      # CPU default
    with pytest.raises(ValueError, match="unknown preset"):
        configs.get_config("wavegan", "huge")
    with pytest.raises(ValueError, match="no presets"):
        configs.get_config("nosuchgan")


@pytest.mark.parametrize("model", ["wavegan", "specgan", "gansynth"])
def test_quick_preset_builds_trains_and_samples(model, tmp_path):
    """The CPU default at its real network size (a small batch): two steps, then samples.
    How well it learns is a benchmark (benchmarks/bench_quality.py), not a test."""
    import jax
    import numpy as np
    from gan_jax import load, sample
    from gan_jax import train as T

    _, cfg = configs.get_config(model, "quick")
    assert cfg.data.sample_rate == 8000 and cfg.train.loss == "non-saturating"
    assert cfg.train.n_critic == 1 and cfg.train.r1_weight > 0 and cfg.train.ema > 0
    cfg = C.override_all(cfg, [("train.steps", "2"), ("train.batch_size", "4"),
                               ("data.embedded_per_class", "2"), ("train.sample_every", "2")])
    T.train(cfg, tmp_path / "run", progress=False, devices=jax.devices()[:1])
    gen, saved = load(tmp_path / "run")
    kw = {"pitch": 60} if model == "gansynth" else {}
    audio = np.asarray(sample(gen, jax.random.key(0), n=2, **kw))
    assert audio.shape == (2, cfg.model.slice_len) and np.isfinite(audio).all()
    assert saved.data.sample_rate == 8000 and np.abs(audio).max() > 0
