"""gan_jax.classifier: front end, augmentation and junk, temperature, training, files."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import classifier as C
from gan_jax import metrics

SR = 16000
CFG = C.ClassifierConfig(label_names=tuple("abcd"))


def tone(f, n=16384, amp=0.5, sr=SR):
    return (amp * np.sin(2 * np.pi * f * np.arange(n) / sr)).astype(np.float32)


def test_log_mel_ignores_level_and_keeps_silence_at_the_floor():
    x = np.stack([tone(440), 0.01 * tone(440), np.zeros(16384, np.float32)])
    mel = np.asarray(C.log_mel(CFG, x))
    assert mel.shape == (3, 33, CFG.n_mels)
    np.testing.assert_allclose(mel[0], mel[1], atol=1e-4)
    # The floor is TOP_DB below the loudest cell; silence sits at a full-scale clip's floor.
    np.testing.assert_allclose(mel[0].max() - mel[0].min(), C.TOP_DB * np.log(10) / 10, rtol=1e-4)
    floor = np.log(C._FULL_SCALE_POWER * CFG.n_fft ** 2 * 10 ** (-C.TOP_DB / 10))
    np.testing.assert_allclose(mel[2], floor, rtol=1e-5)


def test_fit_audio_resamples_mixes_and_fits_the_length():
    stereo = np.stack([tone(440, 8000, sr=8000)] * 2, axis=-1)[None]   # 1 s at 8 kHz
    out = C.fit_audio(CFG, stereo, 8000)
    assert out.shape == (1, 16384) and out.dtype == np.float32
    # 1 s at 8 kHz is 16000 samples at 16 kHz, then zero-padded to 16384.
    assert np.abs(out[0, 16100:]).max() == 0 and np.abs(out[0, :16000]).max() > 0.45
    spectrum = np.abs(np.fft.rfft(out[0, :16000]))
    assert np.argmax(spectrum) == pytest.approx(440, abs=1)   # 1 Hz bins: still 440 Hz
    with pytest.raises(ValueError, match="clips, samples"):
        C.fit_audio(CFG, np.zeros(10), SR)


def test_augment_changes_speed_and_position_but_keeps_the_sound():
    x = jnp.asarray(np.stack([tone(1000)] * 64))
    y = np.asarray(C.augment(jax.random.key(0), x))
    assert y.shape == x.shape and np.all(np.isfinite(y))
    peaks = np.array([np.argmax(np.abs(np.fft.rfft(r))) for r in y]) * SR / 16384
    assert np.all(np.abs(peaks - 1000) <= 70) and np.ptp(peaks) > 10   # +-6 % speed
    gains = np.abs(y).max(axis=1)
    assert gains.min() < 0.2 and gains.max() > 0.3                       # -20..0 dB gain
    # A pitch classifier's augmentation keeps the pitch: +-6 % would be +-1 semitone.
    speed = C.pitch_settings()["max_speed_change"]
    y = np.asarray(C.augment(jax.random.key(0), x, speed))
    peaks = np.array([np.argmax(np.abs(np.fft.rfft(r))) for r in y]) * SR / 16384
    assert speed == 0.0 and np.all(np.abs(peaks - 1000) <= 1)


def test_shift_pitch_moves_the_note_and_its_label_by_the_same_semitones():
    x = jnp.asarray(np.stack([tone(1000)] * 64))
    labels = jnp.asarray(np.tile([0, 1, 5, 9], 16))   # 10 classes: 0 and 9 can only go one way
    y, moved = (np.asarray(a) for a in C.shift_pitch(jax.random.key(0), x, labels, 2, 10))
    k = moved - np.asarray(labels)
    assert np.all((moved >= 0) & (moved <= 9)) and np.all(np.abs(k) <= 2)
    assert set(k[np.asarray(labels) == 5]) == {-2, -1, 0, 1, 2}
    peaks = np.array([np.argmax(np.abs(np.fft.rfft(r[:8192]))) for r in y]) * SR / 8192
    np.testing.assert_allclose(peaks, 1000 * 2.0 ** (k / 12), atol=SR / 8192)
    # Pitch classifiers train with it, at >= 16 frames per clip whatever its length.
    assert C.pitch_settings()["pitch_shift"] == 2
    assert [C.pitch_settings(slice_len=n)["hop_length"] for n in (64000, 4096)] == [1024, 256]


def test_junk_is_finite_varied_and_deterministic():
    real = jnp.asarray(np.stack([tone(300 + 50 * i) for i in range(8)]))
    a = np.asarray(C.junk(jax.random.key(1), real, 64, SR))
    b = np.asarray(C.junk(jax.random.key(1), real, 64, SR))
    assert a.shape == (64, 16384) and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() <= 1.0 + 1e-5
    assert np.sum(np.abs(a).max(axis=1) == 0) >= 1                # some silence
    assert len({round(float(np.std(r)), 4) for r in a}) > 30      # not one kind repeated


def test_reversed_and_shuffled_junk_stay_where_the_sound_was():
    x = np.zeros((2, 40), np.float32)
    x[0, :10], x[1, :17] = np.arange(1, 11), np.arange(1, 18)   # short sounds, zero padding after
    reversed_, shuffled = (np.asarray(a) for a in C._scrambled(jax.random.key(0), jnp.asarray(x), chunks=4))
    np.testing.assert_array_equal(reversed_[0, :10], np.arange(10, 0, -1))
    np.testing.assert_array_equal(reversed_[1, :17], np.arange(17, 0, -1))
    assert not reversed_[:, 17:].any() and not reversed_[0, 10:].any()
    for row, n in ((0, 10), (1, 17)):   # a permutation of the sounding part, in chunks
        np.testing.assert_array_equal(np.sort(shuffled[row, :n]), np.arange(1, n + 1))
        assert not shuffled[row, n:].any() and not np.array_equal(shuffled[row, :n], x[row, :n])


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4000, 5)) * 3
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in p])
    assert C.fit_temperature(2.5 * z, labels) == pytest.approx(2.5, rel=0.1)
    # Junk must stay uncertain (mean entropy >= 0.9 log K): confident junk logits hold T up.
    junk = rng.standard_normal((500, 5)) * 10
    t = C.fit_temperature(2.5 * z, labels, junk)
    logp = jax.nn.log_softmax(junk / t)
    assert t > 3.0 and float(-(np.exp(logp) * logp).sum(1).mean()) >= 0.9 * np.log(5) - 1e-3
    # Always right on held-out clips: the NLL alone would take T to 0; the junk condition stops it.
    sure = np.eye(5)[labels] * 5.0
    assert C.fit_temperature(sure, labels) == pytest.approx(0.05 * np.exp(-0.12))
    assert C.fit_temperature(sure, labels, junk) > 1.0


def test_saved_classifier_round_trips_and_is_never_overwritten(tiny_classifier, tmp_path):
    folder, heldout = tiny_classifier
    clf = C.load_classifier(folder)
    settings = json.loads((folder / "classifier.json").read_text())
    assert settings["config"]["label_names"] == list(clf.cfg.label_names) and len(clf.cfg.label_names) == 10
    clips = np.stack(heldout.clips[:20])
    p1, f1 = C.predict(clf, clips, SR)
    copy = C.save(clf, tmp_path / "copy")
    p2, f2 = C.predict(C.load_classifier(copy), clips, SR)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0, rtol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]             # no temporary left
    with pytest.raises(FileExistsError, match="not empty"):
        C.save(clf, copy)
    (copy / "features.npz").unlink()
    with pytest.raises(FileNotFoundError, match="features.npz: missing"):
        C.load_classifier(copy)


def test_tiny_classifier_knows_real_from_junk(tiny_classifier):
    folder, heldout = tiny_classifier
    clf = C.load_classifier(folder)
    assert clf.info["heldout_accuracy"] >= 0.9
    rng = np.random.default_rng(0)
    t = np.arange(16384) / SR
    junk = {"noise": 0.3 * rng.standard_normal((100, 16384)), "silence": np.zeros((100, 16384)),
            "tones": np.stack([0.5 * np.sin(2 * np.pi * f * t) for f in np.geomspace(60, 5000, 100)])}
    real_probs, _ = C.predict(clf, np.stack(heldout.clips), SR)
    assert metrics.inception_score_all(real_probs) >= 7.0
    for name, audio in junk.items():
        probs, _ = C.predict(clf, audio, SR)
        assert metrics.inception_score_all(probs) <= 1.5, name
        assert metrics.label_entropy(probs) >= 0.6 * np.log(10), name
