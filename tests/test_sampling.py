"""Checkpoint round trip (8 devices -> 1), exact resume, and the public load/sample API."""

import importlib
import json
import shutil

import jax
import numpy as np
import pytest

from conftest import tiny_config, write_midi
from gan_jax import load, midi, sample, sampling
from gan_jax import train as T


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    cfg = tiny_config(**{"train.steps": 4, "train.ckpt_every": 2, "train.n_critic": 1})
    straight, split = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("split")
    one = jax.devices()[:1]
    r = T.train(cfg, straight, progress=False, devices=one)
    assert r.step == 4 and r.interrupted is None
    half = tiny_config(**{"train.steps": 2, "train.ckpt_every": 2, "train.n_critic": 1})
    T.train(half, split, progress=False, devices=jax.devices())       # saved from 8 devices
    T.train(cfg, split, progress=False, devices=one)                   # resumed on 1
    return cfg, straight, split


def test_resume_continues_exactly(runs):
    cfg, straight, split = runs
    a, _ = load(straight)
    b, _ = load(split)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_allclose(x, y, atol=1e-5, rtol=1e-5)


def test_load_returns_config_and_generator(runs):
    cfg, straight, _ = runs
    params, loaded_cfg = load(straight)
    assert loaded_cfg == cfg
    assert set(params.params) == {"z_project", "upconv_0", "upconv_1", "upconv_2", "upconv_3",
                                  "upconv_4"}
    earlier, _ = load(straight, step=2)
    diff = [float(np.abs(x - y).max()) for x, y in
            zip(jax.tree.leaves(earlier.params), jax.tree.leaves(params.params))]
    assert max(diff) > 0


def test_sample_api(runs):
    _, straight, _ = runs
    params, cfg = load(straight)
    a = sample(params, jax.random.key(0), n=3)
    assert a.shape == (3, cfg.model.slice_len) and a.dtype == np.float32
    assert float(np.abs(a).max()) <= 1.0
    np.testing.assert_array_equal(a, sample(params, jax.random.key(0), n=3))
    assert not np.allclose(a, sample(params, jax.random.key(1), n=3))
    with pytest.raises(ValueError, match="n must be >= 1"):
        sample(params, jax.random.key(0), n=0)
    with pytest.raises(ValueError, match="generates waveforms"):
        sample(params, jax.random.key(0), n=1, return_spectrogram=True)


def test_truncation_scales_drawn_latents_only(runs):
    _, straight, _ = runs
    params, cfg = load(straight)
    key = jax.random.key(0)
    z = sampling.random_latents(cfg, key, 3)                  # truncation 1: as drawn
    half = sampling.with_truncation(params, 0.5)
    np.testing.assert_allclose(sampling.random_latents(half.config, key, 3), 0.5 * z, rtol=1e-6)
    # Drawn latents are scaled; explicit ones are used as given.
    drawn = sample(params, key, n=3, truncation=0.5)
    assert not np.allclose(drawn, sample(params, key, n=3))
    np.testing.assert_array_equal(sample(half, key, n=3), drawn)
    np.testing.assert_array_equal(sample(params, key, latents=z, truncation=0.5),
                                  sample(params, key, latents=z))
    with pytest.raises(ValueError, match=r"truncation must be in \(0, 1\], got 0.0"):
        sample(params, key, n=1, truncation=0.0)
    cli = importlib.import_module("sample")
    assert cli.main(["--workdir", str(straight), "--n", "1", "--truncation", "1.5",
                     "--out", str(straight.parent / "bad-truncation")]) == 2


def test_sample_in_bf16_is_float32_audio_close_to_f32(runs):
    _, straight, _ = runs
    params, _ = load(straight)
    a = np.asarray(sample(params, jax.random.key(0), n=3))
    b = np.asarray(sample(params, jax.random.key(0), n=3, precision="bf16"))
    assert b.dtype == np.float32 and not np.array_equal(a, b)   # it did compute in bf16
    assert np.abs(a - b).max() <= 0.02 * np.abs(a).max() + 1e-6, np.abs(a - b).max()
    with pytest.raises(ValueError, match="precision must be one of f32, bf16"):
        sample(params, jax.random.key(0), n=1, precision="fp8")


def test_load_errors(tmp_path, runs):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load(tmp_path)
    _, straight, _ = runs
    with pytest.raises(FileNotFoundError, match=r"checkpoints/3: no such checkpoint; there are "
                                                r"steps 2, 4"):
        load(straight, step=3)
    # A checkpoint without a parameter its config's model needs (as from another version of
    # gan_jax): the parameter named.
    bad = tmp_path / "bad"
    shutil.copytree(straight, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["model"]["g_class_filter"] = 8
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"checkpoints/4: cannot be read \(generator\.params"
                                         r"\.class_filter_delta: the model needs it \(shape "
                                         r"\(1, 8\)\)"):
        load(bad)


def test_load_takes_a_relative_path(runs, monkeypatch):
    _, straight, _ = runs
    monkeypatch.chdir(straight.parent)
    params, _ = load(straight.name)
    assert params.config == load(straight)[0].config


# ---------------------------------------------------------------------------------------------
# GANSynth: progressive resume, pitch conditioning, interpolation, MIDI


@pytest.fixture(scope="module")
def gansynth_runs(tmp_path_factory):
    """Tiny GANSynth (stages of 2 steps) trained 5 steps straight, and in three runs stopped
    mid-stage (step 3, alpha 0.5) and at a stage's first step (4, whose optimiser reset
    happens after the resume)."""
    one = jax.devices()[:1]
    cfg = lambda steps: tiny_config("gansynth", **{"train.steps": steps, "train.ckpt_every": 1,
                                                   "data.embedded_per_class": 1})
    straight, split = tmp_path_factory.mktemp("gs_straight"), tmp_path_factory.mktemp("gs_split")
    T.train(cfg(5), straight, progress=False, devices=one)
    for steps in (3, 4, 5):
        T.train(cfg(steps), split, progress=False, devices=jax.devices() if steps == 3 else one)
    return cfg(5), straight, split


def test_gansynth_resume_across_stages_is_exact(gansynth_runs):
    cfg, straight, split = gansynth_runs
    a, _ = load(straight)
    b, _ = load(split)
    assert (a.stage, float(a.alpha)) == (b.stage, float(b.alpha)) == T.progress_at(cfg, 5) == (2, 1.0)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_allclose(x, y, atol=1e-5, rtol=1e-5)
    mid, _ = load(straight, step=3)
    assert (mid.stage, float(mid.alpha)) == (1, 0.5)


def test_gansynth_checkpoint_meta_records_stage(gansynth_runs):
    import json
    _, straight, _ = gansynth_runs
    meta = json.loads((straight / "checkpoints" / "3" / "meta" / "metadata").read_text())
    assert (meta["stage"], meta["alpha"], meta["images_seen"]) == (1, 0.5, 24)
    assert len(meta["stats"]["pitch_counts"]) == 4 and sum(meta["stats"]["pitch_counts"]) == 4


def test_gansynth_sample_with_pitch_and_latents(gansynth_runs):
    _, straight, _ = gansynth_runs
    params, cfg = load(straight)
    key = jax.random.key(0)
    z = sampling.random_latents(cfg, key, 3)
    a60 = np.asarray(sample(params, key, pitch=60, latents=z))
    assert a60.shape == (3, 320) and a60.dtype == np.float32
    np.testing.assert_array_equal(a60, sample(params, jax.random.key(5), pitch=60, latents=z))
    assert not np.allclose(a60, sample(params, key, pitch=63, latents=z))      # pitch is used
    mixed = np.asarray(sample(params, key, pitch=[60, 63, 60], latents=z))
    np.testing.assert_allclose(mixed[[0, 2]], a60[[0, 2]], atol=1e-6)
    drawn = sample(params, key, n=4)                                  # pitches from the histogram
    assert drawn.shape == (4, 320)
    with pytest.raises(ValueError, match="pitch 70 is outside the model's range 60..63"):
        sample(params, key, n=2, pitch=70)
    with pytest.raises(ValueError, match="one per clip"):
        sample(params, key, n=2, pitch=[60, 61, 62])
    with pytest.raises(ValueError, match="gansynth is conditioned on pitch, not on a class label"):
        sample(params, key, n=2, label=3)
    with pytest.raises(ValueError, match=r"latents must have shape \[n, 256\]"):
        sample(params, key, latents=np.zeros((2, 8)))
    with pytest.raises(ValueError, match="n=2 but 3 latent vectors"):
        sample(params, key, n=2, latents=z)
    # generate() batches with a padded last batch: the same clips as one call.
    np.testing.assert_allclose(sampling.generate(params, key, z, [60, 63, 60], batch=2),
                               mixed, atol=1e-6)


def test_pitch_needs_a_conditional_model(runs):
    _, straight, _ = runs
    params, _ = load(straight)
    with pytest.raises(ValueError, match="wavegan is not pitch-conditioned"):
        sample(params, jax.random.key(0), n=1, pitch=60)


def unit(rng, n=8):
    v = rng.standard_normal(n)
    return v / np.linalg.norm(v)


def test_slerp_endpoints_and_unit_norm():
    rng = np.random.default_rng(1)
    a, b = unit(rng), unit(rng)
    np.testing.assert_allclose(sampling.slerp(a, b, 0.0), a, atol=1e-12)
    np.testing.assert_allclose(sampling.slerp(a, b, 1.0), b, atol=1e-12)
    for t in np.linspace(0, 1, 11):
        assert np.linalg.norm(sampling.slerp(a, b, t)) == pytest.approx(1.0)


def test_slerp_parallel_and_opposite_vectors_are_finite():
    rng = np.random.default_rng(2)
    a = unit(rng)
    np.testing.assert_allclose(sampling.slerp(a, a, 0.3), a)
    np.testing.assert_allclose(sampling.slerp(a, 2 * a, 0.5), 1.5 * a)
    middle = sampling.slerp(a, -a, 0.5)
    assert np.linalg.norm(middle) == pytest.approx(1.0) and abs(middle @ a) < 1e-12
    np.testing.assert_allclose(sampling.slerp(a, -a, 1.0), -a, atol=1e-12)


def test_interpolation_latents():
    cfg = tiny_config("gansynth")
    z = sampling.interpolation_latents(cfg, jax.random.key(3), 5)
    z0, z1 = sampling.random_latents(cfg, jax.random.key(3), 2)
    np.testing.assert_allclose(z[0], z0, atol=1e-5)
    np.testing.assert_allclose(z[-1], z1, atol=1e-5)
    # slerp keeps Gaussian latents at their typical norm (a straight line would sag to ~0.7x
    # in the middle) and turns steadily from z0 towards z1.
    norms = np.linalg.norm(z, axis=1)
    assert norms.min() > 0.95 * min(norms[0], norms[-1]), norms
    cos = [float(v @ z0 / np.linalg.norm(v) / np.linalg.norm(z0)) for v in z]
    angles = np.diff(np.arccos(np.clip(cos, -1, 1)))
    np.testing.assert_allclose(angles, angles.mean(), rtol=0.02)
    with pytest.raises(ValueError, match="at least 2 steps"):
        sampling.interpolation_latents(cfg, jax.random.key(3), 1)


def test_render_midi_file(gansynth_runs, tmp_path):
    _, straight, _ = gansynth_runs
    params, cfg = load(straight)
    notes = [midi.Note(0.5, 1.0, 60, 127), midi.Note(0.25, 0.5, 63, 64),
             midi.Note(1.0, 1.5, 61, 100), midi.Note(0.75, 1.0, 75, 127)]   # 75: out of range
    path = write_midi(tmp_path / "song.mid", notes)
    with pytest.warns(UserWarning, match="1 of 4 notes outside pitch range 60-63 were dropped"):
        audio = sampling.render_midi(params, midi.parse_midi(path), jax.random.key(0))
    sr = cfg.data.sample_rate
    # Each note is a 320-sample generated clip under its envelope, mixed at its onset.
    assert audio.shape == (round(1.0 * sr) + 320,) and audio.dtype == np.float32
    assert np.abs(audio).max() == pytest.approx(0.5, abs=1e-6)
    assert not audio[:round(0.25 * sr)].any()                  # silence before the first onset
    sounding = lambda t: audio[round(t * sr):round(t * sr) + 320]
    assert all(np.abs(sounding(t)).max() > 0 for t in (0.25, 0.5, 1.0))
    assert not audio[round(0.75 * sr):round(1.0 * sr)].any()   # the dropped note is silent
    # Octave transposition (tested in test_midi.py) needs 12 pitches; this model has 4.
    with pytest.raises(ValueError, match="at least 12 pitches, got 60-63"):
        sampling.render_midi(params, notes, jax.random.key(0), out_of_range="transpose")


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    """A class-conditional WaveGAN (projection D) trained 2 steps on the 10 embedded classes."""
    cfg = tiny_config(**{"train.steps": 2, "train.n_critic": 1, "model.num_classes": 10})
    workdir = tmp_path_factory.mktemp("conditional")
    T.train(cfg, workdir, progress=False, devices=jax.devices()[:1])
    return workdir


def test_class_conditional_sample_and_label_checks(conditional_run, runs, tmp_path):
    from gan_jax import evaluate

    params, cfg = load(conditional_run)
    key = jax.random.key(0)
    z = sampling.random_latents(cfg, key, 3)
    a3 = np.asarray(sample(params, key, label=3, latents=z))
    assert a3.shape == (3, cfg.model.slice_len)
    assert not np.allclose(a3, sample(params, key, label=4, latents=z))       # the label is used
    mixed = np.asarray(sample(params, key, label=[3, 4, 3], latents=z))
    np.testing.assert_allclose(mixed[[0, 2]], a3[[0, 2]], atol=1e-6)
    np.testing.assert_allclose(sampling.generate(params, key, z, batch=2, label=[3, 4, 3]),
                               mixed, atol=1e-6)
    with pytest.raises(ValueError, match="label 10 is outside the model's classes 0..9"):
        sample(params, key, n=2, label=10)
    with pytest.raises(ValueError, match="wavegan is not pitch-conditioned"):
        sample(params, key, n=1, pitch=60)
    unconditional, _ = load(runs[1])
    with pytest.raises(ValueError, match="not class-conditional"):
        sample(unconditional, key, n=1, label=3)
    # Evaluation asks for uniform classes and says which.
    audio, asked = evaluate.generate_clips(params, key, 12)
    assert audio.shape[0] == 12 and set(asked) == {"labels"}
    assert asked["labels"].min() >= 0 and asked["labels"].max() <= 9
    # The CLI: --label K writes K-class clips; a bad class is a one-line error, exit 2.
    cli = importlib.import_module("sample")
    assert cli.main(["--workdir", str(conditional_run), "--n", "2", "--label", "7",
                     "--out", str(tmp_path / "sevens")]) == 0
    assert len(list((tmp_path / "sevens").glob("*.wav"))) == 2
    assert cli.main(["--workdir", str(conditional_run), "--n", "1", "--label", "12",
                     "--out", str(tmp_path / "bad")]) == 2
