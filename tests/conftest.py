"""Shared test set-up: 8 simulated CPU devices (before JAX touches a device) and tiny configs."""

import atexit
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

import jax

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # the `configs` package and the CLIs live at the repository root

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")   # catch silent broadcasting
jax.config.update("jax_disable_most_optimizations", True)   # tiny models: compile time dominates
# Every train() call builds its step anew, so the same tiny programs compile again and again:
# a compilation cache for this session (removed at exit) compiles each once.
jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="gan_jax-tests-xla-"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
atexit.register(shutil.rmtree, jax.config.jax_compilation_cache_dir, ignore_errors=True)

import pytest  # noqa: E402

from gan_jax import config as config_lib  # noqa: E402


# GANSynth at 8x64 (3 resolutions: 5 stages of 16 images = 2 steps at batch 8), widths
# 8, 4, 2, 4 pitch classes; n_fft 128 / hop 32 frames 352 samples, of which 320 are used.
GANSYNTH_TINY = {
    "model.num_resolutions": "3", "model.slice_len": "320", "model.fmap_base": "16",
    "model.fmap_max": "8", "model.pitch_min": "60", "model.pitch_max": "63",
    "model.stable_stage_num_images": "16", "model.transition_stage_num_images": "16",
    "model.total_num_images": "96"}


def tiny_config(model: str = "wavegan", **overrides) -> config_lib.Config:
    """A model small enough to compile and step in seconds on 2 cores."""
    import configs
    _, cfg = configs.get_config(model, "small")
    base = {"model.dim": "2", "train.batch_size": "8", "train.n_critic": "2",
            "data.embedded_per_class": "2", "train.log_every": "1", "train.sample_every": "1000",
            "train.num_samples": "2"}
    if model == "gansynth":
        base = {**base, **GANSYNTH_TINY}
        del base["model.dim"], base["train.n_critic"]
    return config_lib.override_all(cfg, [(k, str(v)) for k, v in {**base, **overrides}.items()])


@pytest.fixture
def data_root():
    """The shared real-data folder, or a skip naming what is missing."""
    root = os.environ.get("GAN_JAX_DATA")
    if not root:
        pytest.skip("GAN_JAX_DATA is unset (CI sets it to ../shared/data)")
    return Path(root)


def cross_entropy(class_logits_BxK, labels_B):
    """Mean softmax cross-entropy, written out: the reference for the AC terms of the step."""
    import jax.numpy as jnp
    logp_BxK = jax.nn.log_softmax(jnp.asarray(class_logits_BxK), axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp_BxK, jnp.asarray(labels_B)[:, None], axis=-1))


def replace(cfg, **sections):
    return dataclasses.replace(cfg, **sections)
