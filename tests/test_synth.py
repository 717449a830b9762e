"""Tests for gan_jax.synth: the embedded sound set and the embedded note set."""

import itertools
import time

import numpy as np
import pytest

from gan_jax import synth as S
from gan_jax.dataset import DataError

SR = 16000


# --------------------------------------------------------------------------- embedded sounds


def test_embedded_deterministic_and_seeded():
    a = S.embedded_dataset(slice_len=4096, n_per_class=4, seed=0)
    b = S.embedded_dataset(slice_len=4096, n_per_class=4, seed=0)
    c = S.embedded_dataset(slice_len=4096, n_per_class=4, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a.clips, b.clips))
    assert not any(np.array_equal(x, y) for x, y in zip(a.clips, c.clips))
    # Clip i of a class does not depend on how many clips were asked for.
    small = S.embedded_dataset(slice_len=4096, n_per_class=2, seed=0)
    pairs = dict(zip(a.files, a.clips))
    assert all(np.array_equal(pairs[f], clip) for f, clip in zip(small.files, small.clips))


def test_embedded_contents():
    ds = S.embedded_dataset(sample_rate=8000, slice_len=4096, n_per_class=3, seed=5)
    assert len(ds) == 30 and ds.source == "embedded" and ds.slicing == "first"
    assert ds.label_names == S.EMBEDDED_CLASSES and len(set(S.EMBEDDED_CLASSES)) == 10
    np.testing.assert_array_equal(np.bincount(ds.labels), [3] * 10)
    assert ds.files[0] == f"embedded:{S.EMBEDDED_CLASSES[0]}:0"
    audio = np.stack(ds.clips)
    assert audio.shape == (30, 4096, 1) and audio.dtype == np.float32
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0
    assert np.all(np.max(np.abs(audio), axis=(1, 2)) > 0.2)  # nothing silent
    stereo = S.embedded_dataset(slice_len=2048, n_per_class=2, num_channels=2)
    assert stereo.num_channels == 2 and not np.allclose(stereo.clips[0][:, 0], stereo.clips[0][:, 1])
    with pytest.raises(DataError):
        S.embedded_dataset(num_channels=3)
    for name in S.EMBEDDED_CLASSES:
        assert name in S.EMBEDDED_DESCRIPTION


def features(ds, bands=16, segments=4):
    """Log band energies over time segments: a coarse spectrogram, so sweeps up and down differ.

    Relative to each clip's loudest cell, so random loudness does not matter.
    """
    audio = np.stack(ds.clips)[..., 0]
    frames = audio.reshape(len(ds), segments, -1)
    power = np.abs(np.fft.rfft(frames * np.hanning(frames.shape[-1]), axis=-1)) ** 2
    freqs = np.fft.rfftfreq(frames.shape[-1], 1.0 / ds.sample_rate)
    edges = np.geomspace(40.0, ds.sample_rate / 2, bands + 1)
    banded = [power[..., (freqs >= lo) & (freqs < hi)].sum(-1) for lo, hi in itertools.pairwise(edges)]
    logs = np.log10(np.stack(banded, axis=-1) + 1e-6).reshape(len(ds), -1)
    return logs - logs.max(axis=1, keepdims=True)


def test_embedded_classes_are_spectrally_distinct():
    train = S.embedded_dataset(n_per_class=25, seed=0)
    held_out = S.embedded_dataset(n_per_class=25, seed=1)
    x_train, x_test = features(train), features(held_out)
    means = np.stack([x_train[train.labels == c].mean(0) for c in range(10)])
    predicted = np.argmin(((x_test[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    accuracy = np.mean(predicted == held_out.labels)
    assert accuracy >= 0.9, f"nearest-class-mean accuracy on held-out clips only {accuracy:.2f}"
    # The plain spectral centroid alone already spreads the classes from drums to hats.
    audio = np.stack(train.clips)[..., 0]
    spectrum = np.abs(np.fft.rfft(audio, axis=1))
    centroid = (spectrum * np.fft.rfftfreq(audio.shape[1], 1 / SR)).sum(1) / spectrum.sum(1)
    class_centroids = np.array([centroid[train.labels == c].mean() for c in range(10)])
    low, high = S.EMBEDDED_CLASSES.index("kick"), S.EMBEDDED_CLASSES.index("hihat")
    assert class_centroids.argmin() == low and class_centroids.argmax() == high
    assert class_centroids[high] > 4 * class_centroids[low]


def test_embedded_generation_time():
    start = time.perf_counter()
    ds = S.embedded_dataset(sample_rate=16000, slice_len=16384, n_per_class=100, seed=0)
    elapsed = time.perf_counter() - start
    print(f"embedded dataset: 1000 clips x 16384 samples in {elapsed:.2f} s")
    assert len(ds) == 1000
    assert elapsed < 15.0, f"generating the embedded dataset took {elapsed:.1f} s"


# --------------------------------------------------------------------------- embedded notes


@pytest.fixture(scope="module")
def embedded():
    start = time.perf_counter()
    ds = S.embedded_notes()
    return ds, time.perf_counter() - start


def test_embedded_notes_shape_labels_and_speed(embedded):
    ds, seconds = embedded
    print(f"embedded_notes(): {len(ds)} notes of 64000 samples in {seconds:.2f} s")
    assert seconds < 10.0   # ~1-1.5 s on 2 cores; generous for loaded CI machines
    assert len(ds) == 61 * 4 and ds.num_classes == 61 and ds.slicing == "first"
    assert all(c.shape == (64000, 1) and c.dtype == np.float32 for c in ds.clips)
    pitches = np.array([int(f.split(":")[2]) for f in ds.files])
    np.testing.assert_array_equal(ds.labels, pitches - 24)
    np.testing.assert_array_equal(np.bincount(ds.labels, minlength=61), np.full(61, 4))
    assert {f.split(":")[1] for f in ds.files} == set(S.EMBEDDED_INSTRUMENTS)
    audio = np.stack([c[:, 0] for c in ds.clips])
    peaks = np.abs(audio).max(axis=1)
    assert np.all(np.isfinite(audio)) and np.all((peaks > 0.29) & (peaks < 0.91))
    # Held for 3 s, released within the 4 s: the last 0.1 s is near silence.
    assert np.abs(audio[:, -1600:]).max() < 0.01 * peaks.min()


def test_embedded_notes_deterministic_and_independent_of_the_rest(embedded):
    ds, _ = embedded
    small = S.embedded_notes(pitch_min=59, pitch_max=61, n_per_pitch=2)
    full = dict(zip(ds.files, ds.clips))
    for name, clip in zip(small.files, small.clips):
        np.testing.assert_array_equal(clip, full[name])
    np.testing.assert_array_equal(small.labels, [0, 0, 1, 1, 2, 2])
    other_seed = S.embedded_notes(pitch_min=59, pitch_max=61, n_per_pitch=2, seed=1)
    assert not np.array_equal(other_seed.clips[0], small.clips[0])


def estimate_f0(clip, sr=SR):
    """FFT peak of the sustained part (0.5-2.5 s), refined by parabolic interpolation."""
    x = clip[sr // 2 : 5 * sr // 2, 0].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), n=1 << 18))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / (1 << 18)


@pytest.mark.parametrize("instrument", ["bowed", "reed", "pluck"])
def test_embedded_notes_have_their_pitch(embedded, instrument):
    ds, _ = embedded
    checked = 0
    for name, clip in zip(ds.files, ds.clips):
        _, kind, pitch, _ = name.split(":")
        if kind != instrument:
            continue
        expected = 440 * 2 ** ((int(pitch) - 69) / 12)
        assert estimate_f0(clip) == pytest.approx(expected, rel=0.03), name
        checked += 1
    assert checked == 61


def test_embedded_partials_stay_below_nyquist():
    # At 8 kHz the limit is 3.6 kHz; a bright high note must keep its spectrum under it.
    ds = S.embedded_notes(sample_rate=8000, slice_len=16000, pitch_min=80, pitch_max=84, n_per_pitch=4)
    freqs = np.fft.rfftfreq(16000, 1 / 8000)
    for clip in ds.clips:
        power = np.abs(np.fft.rfft(clip[:, 0])) ** 2
        assert power[freqs > 3700].sum() < 1e-5 * power.sum()
