"""SpecGAN: parameter counts, the representation and its inverse, moments kept with the run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf

from conftest import tiny_config
from gan_jax import data, load, sample, spectral
from gan_jax import train as T
from gan_jax.models import specgan as S
from gan_jax.models import wavegan as W

# Spectral convergence of the re-analysed inversion. The reference's inversion (16 plain
# Griffin-Lim iterations from zero phase) measured 0.127 (mean) on FSDD test clips and
# 0.13-0.23 on the steady generated notes; 64 fast iterations (momentum 0.99) reach 0.03-0.045
# on the notes, where a result shifted by one frame already scores 0.18-0.25.
FSDD_SC_BOUND = 0.2

def _count(tree):
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


def test_parameter_counts_equal_wavegan_and_shapes():
    cfg = S.SpecGANConfig()
    z = jax.ShapeDtypeStruct((2, 100), jnp.float32)
    g = jax.eval_shape(W.Generator(cfg).init, jax.random.key(0), z)
    x = jax.eval_shape(W.Generator(cfg).apply, g, z)
    d = jax.eval_shape(W.Discriminator(cfg).init, jax.random.key(0), x)
    assert x.shape == (2, 128, 128, 1)
    assert _count(g["params"]) == 19_065_345    # 5x5 kernels have 25 taps, like k=25 in 1-D
    assert _count(d["params"]) == 17_427_969
    assert g["params"]["upconv_0"]["kernel"].shape == (5, 5, 512, 1024)


def test_quick_size_is_64_frames_by_128_bins_from_four_layers():
    cfg = S.SpecGANConfig(slice_len=8192, dim=16)
    z = jax.ShapeDtypeStruct((2, 100), jnp.float32)
    g = jax.eval_shape(W.Generator(cfg).init, jax.random.key(0), z)
    x = jax.eval_shape(W.Generator(cfg).apply, g, z)
    d = jax.eval_shape(W.Discriminator(cfg).init, jax.random.key(0), x)
    assert x.shape == (2, 64, 128, 1)
    assert S.log_spectrogram(jnp.zeros((1, 8192))).shape == (1, 64, 129)
    # G: 100*4096+4096 (dense to [4, 8, 128]) + 25*(128*64+64*32+32*16+16*1) + 64+32+16+1.
    assert _count(g["params"]) == 683_009
    assert _count(d["params"]) == 273_537   # 25*(1*16+16*32+32*64+64*128) + biases + 4097
    assert len(g["params"]) == 5 and g["params"]["upconv_0"]["kernel"].shape == (5, 5, 64, 128)


def _note(sr=16000, n=16384, f0=220.0):
    t = np.arange(n) / sr
    env = np.exp(-3 * t) * np.minimum(1, t / 0.01)
    return sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8)) * env * 0.5


def _clips(data_root_or_none):
    if data_root_or_none is None:
        return np.stack([_note(f0=f) for f in (110.0, 220.0, 330.0, 440.0)]).astype(np.float32)
    ds = data.load_folder(data_root_or_none / "fsdd" / "recordings", sample_rate=16000,
                          slice_len=16384, split="test")
    return np.stack(ds.clips[:8])[..., 0]


def _round_trip_sc(clips, stats, cfg=S.SpecGANConfig()):
    stats = jax.tree.map(jnp.asarray, stats)
    x = S.encode(cfg, clips[..., None], stats)
    assert x.shape == (len(clips), 128, 128, 1)
    assert float(jnp.abs(x).max()) <= 1.0
    audio = jax.jit(lambda x: S.decode(cfg, x, stats))(x)[..., 0]
    assert audio.shape == clips.shape
    target = jnp.abs(spectral.stft(spectral.pad_end(clips, 256, 128), n_fft=256, hop_length=128,
                                   center=False))
    got = jnp.exp(jnp.swapaxes(S.log_spectrogram(audio), -1, -2))
    return spectral.spectral_convergence(target, got)


def _stats_of(clips):
    logmag = np.asarray(S.log_spectrogram(clips), np.float64).reshape(-1, 129)
    return {"mean": logmag.mean(0).astype(np.float32), "std": logmag.std(0).astype(np.float32)}


@pytest.mark.parametrize("iters,momentum,bound", [(16, 0.0, 0.3), (64, 0.99, 0.06)])
def test_representation_round_trip_generated_note(iters, momentum, bound):
    clips = _clips(None)
    cfg = S.SpecGANConfig(griffin_lim_iters=iters, griffin_lim_momentum=momentum)
    sc = _round_trip_sc(clips, _stats_of(clips), cfg)
    assert float(sc.max()) < bound, sc


def test_representation_round_trip_fsdd(data_root):
    clips = _clips(data_root)
    train = data.load_folder(data_root / "fsdd" / "recordings", sample_rate=16000,
                             slice_len=16384, split="train")
    stats = S.compute_stats(S.SpecGANConfig(), train)      # moments from the training split
    sc = _round_trip_sc(clips, stats)
    assert float(sc.mean()) < FSDD_SC_BOUND, sc


def test_moments_are_population_statistics_over_all_frames():
    # Notes plus noise: every bin well above float32 FFT round-off, where log() is stable.
    noise = np.random.default_rng(0).normal(0, 0.05, (3, 16384))
    clips = (np.stack([_note(f0=f) for f in (100.0, 300.0, 500.0)]) + noise).astype(np.float32)
    ds = data.AudioDataset(clips=list(clips[..., None]), labels=np.full(3, -1, np.int32),
                           label_names=(), sample_rate=16000, slice_len=16384, slicing="first",
                           source="test", files=["a", "b", "c"])
    stats = S.compute_stats(S.SpecGANConfig(), ds, batch=2)
    # An independent reference: frames by hand (TF pad_end, periodic Hann), numpy FFT.
    x = np.pad(clips.astype(np.float64), [(0, 0), (0, 128)])
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(256) / 256)
    frames = np.stack([x[:, i * 128:i * 128 + 256] * win for i in range(128)], axis=1)
    logmag = np.log(np.abs(np.fft.rfft(frames, axis=-1)) + 1e-6).reshape(-1, 129)
    np.testing.assert_allclose(stats["mean"], logmag.mean(0), atol=2e-3)
    np.testing.assert_allclose(stats["std"], logmag.std(0), atol=2e-3)


def test_bad_specgan_config():
    with pytest.raises(ValueError, match="model.slice_len must be 16384 .* or 8192"):
        S.SpecGANConfig(slice_len=32768)


def test_moments_travel_with_the_run_and_survive_a_data_change(tmp_path):
    """sample() after load() uses the saved moments; resuming on other data keeps them."""
    cfg = tiny_config("specgan", **{"train.steps": 1, "train.n_critic": 1, "train.ckpt_every": 1})
    run = tmp_path / "run"
    T.train(cfg, run, progress=False, devices=jax.devices()[:1])
    expected = S.compute_stats(cfg.model, T.load_data(cfg))
    gen, _ = load(run)
    for k in ("mean", "std"):
        np.testing.assert_array_equal(np.asarray(gen.stats[k]), expected[k])

    # Another dataset: loud noise, whose moments differ a lot.
    other = tmp_path / "noise"
    other.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        sf.write(other / f"n{i}.wav", rng.uniform(-1, 1, 16384).astype(np.float32), 16000)
    cfg2 = T.config_lib.override_all(cfg, [("data.path", str(other)), ("train.steps", "2")])
    T.train(cfg2, run, allow_config_change=True, progress=False, devices=jax.devices()[:1])
    gen2, loaded_cfg = load(run)
    assert loaded_cfg.data.path == str(other)
    for k in ("mean", "std"):
        np.testing.assert_array_equal(np.asarray(gen2.stats[k]), expected[k])

    audio, spec = sample(gen2, jax.random.key(0), n=2, return_spectrogram=True)
    assert audio.shape == (2, 16384) and spec.shape == (2, 128, 128)
    assert float(jnp.abs(spec).max()) <= 1.0
    # The audio is exactly the Griffin-Lim inversion of the spectrogram with the saved moments.
    again = S.decode(cfg.model, spec[..., None], jax.tree.map(jnp.asarray, expected))[..., 0]
    np.testing.assert_allclose(np.asarray(audio), np.clip(np.asarray(again), -1, 1), atol=1e-4)
