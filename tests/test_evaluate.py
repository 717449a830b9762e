"""gan_jax.evaluate and evaluate.py: classifier data, scores and their calibration, the CLI.

The FSDD calibration needs the shared data (GAN_JAX_DATA, set by CI); it trains the FSDD
classifier once for the module (a few minutes on 2 cores)."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, xla_optimised
from gan_jax import classifier as C
from gan_jax import evaluate as E
from gan_jax.dataset import DataError

SR = 16000


def tones(n, length=16384):
    t = np.arange(length) / SR
    return np.stack([0.5 * np.sin(2 * np.pi * f * t) for f in np.geomspace(60, 5000, n)])


def noisy(clips, level, seed=0):
    return clips + level * np.random.default_rng(seed).standard_normal(clips.shape)


def test_scores_of_real_clips_junk_and_copies(tiny_classifier):
    folder, heldout = tiny_classifier
    clf = C.load_classifier(folder)
    real = np.stack(heldout.clips)[..., 0]
    scores = E.score(clf, real, SR, labels=heldout.labels)
    assert scores["n"] == len(real) == 1000 and scores["is_all"] >= 7.0
    # Class-conditional runs: the share of clips classified as the class asked for.
    assert scores["label_accuracy"] >= 0.8
    wrong = E.score(clf, real, SR, labels=(np.asarray(heldout.labels) + 1) % 10)
    assert wrong["label_accuracy"] <= 0.2
    assert scores["is_mean"] >= 6.0   # 10 splits of clips in class order: shuffled first
    assert sum(scores["histogram"]) == 1000 and len(scores["histogram"]) == 10
    assert 0 <= scores["ndb"] <= 50 and scores["ndb_k"] == scores["ndb"] / 50
    silence = E.score(clf, np.zeros((200, 16384)), SR)
    assert silence["is_all"] <= 1.5 and silence["entropy"] > 0.6 * np.log(10)
    assert silence["ndb"] > scores["ndb"] and silence["jsd"] > scores["jsd"]
    # FD grows with the noise added to real clips.
    fd = [E.score(clf, noisy(real[::4], level), SR)["fd"] for level in (0.0, 0.05, 0.2, 0.5)]
    assert fd == sorted(fd) and fd[-1] > 2 * fd[0], fd
    # Memorisation: training clips themselves sit on the training set, held-out ones do not.
    train, _ = E.classifier_data(None, pitch=False, sample_rate=SR, slice_len=16384)
    copies = E.score(clf, np.stack(train.clips[:200])[..., 0], SR)
    assert copies["nearest_train"] < 1e-3 < scores["heldout_nearest_train"]


def test_pitch_scores_and_pyin():
    cfg = C.ClassifierConfig(kind="pitch", label_names=tuple(str(p) for p in range(24, 85)),
                             **C.pitch_settings(width=8))
    frames = C.spectral.num_frames(cfg.slice_len, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
    params = C._net(cfg).init(jax.random.key(0), np.zeros((1, frames, cfg.n_mels)))["params"]
    feats = np.random.default_rng(0).standard_normal((60, cfg.features))
    clf = C.Classifier(cfg, params, 1.0, np.zeros(cfg.n_mels), np.ones(cfg.n_mels), feats, feats[:10],
                       feats[:5], {})
    pitches = np.array([45, 57, 69, 81, 60, 64])
    t = np.arange(64000) / SR
    audio = np.stack([0.5 * np.sin(2 * np.pi * 440 * 2 ** ((p - 69) / 12) * t) for p in pitches])
    audio[-1] = 0.0   # an unvoiced clip: pYIN finds no pitch
    scores = E.score(clf, audio, SR, pitches=pitches, pyin=True)
    probs, _ = C.predict(clf, audio, SR)
    assert scores["pitch_accuracy"] == np.mean(probs.argmax(-1) == pitches - 24)
    assert scores["pyin_accuracy"] == pytest.approx(5 / 6)
    assert scores["pyin_by_pitch"] == {45: 1.0, 57: 1.0, 60: 1.0, 64: 0.0, 69: 1.0, 81: 1.0}
    assert "pitch_accuracy" not in E.score(clf, audio, SR)   # nothing requested, nothing scored


def test_classifier_data_splits_and_needs_labels(tmp_path):
    sc09 = tmp_path / "sc09"
    for i, word in enumerate(["Zero", "One", "Two"] * 10):
        sc09.mkdir(exist_ok=True)
        sf.write(sc09 / f"{word}_{i}.wav", 0.1 * np.ones(800, np.float32), 8000)
    train, heldout = E.classifier_data(str(sc09), pitch=False, sample_rate=8000, slice_len=1000)
    assert (len(train), len(heldout)) == (26, 4)    # no FSDD names: a random 15 % (of 30) held out
    assert not set(train.files) & set(heldout.files)
    notes_train, notes_heldout = E.classifier_data(None, pitch=True, sample_rate=SR, slice_len=64000)
    assert notes_train.label_names == tuple(str(p) for p in range(24, 85))
    assert (len(notes_train), len(notes_heldout)) == (415, 73)    # 8 embedded notes per pitch
    assert not set(notes_train.files) & set(notes_heldout.files)
    (tmp_path / "plain").mkdir()
    sf.write(tmp_path / "plain" / "a.wav", np.ones(800, np.float32), 8000)
    with pytest.raises(DataError, match="needs a label for every clip"):
        E.classifier_data(str(tmp_path / "plain"), pitch=False, sample_rate=8000, slice_len=1000)


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "evaluate.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False)


def test_cli_scores_a_folder_and_gives_one_line_errors(tiny_classifier, tmp_path):
    folder, heldout = tiny_classifier
    clips = tmp_path / "clips"
    clips.mkdir()
    for i, clip in enumerate(heldout.clips[::80]):   # 13 clips, every class
        sf.write(clips / f"c{i}.wav", clip, SR)
    result = run_cli("score", "--classifier", str(folder), "--audio", "clips", "--n", "10", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["n"] == 10 and scores["is_all"] > 3 and "is_mean" in scores
    assert "is_all" in result.stderr   # the readable table
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    for args, message in [
        (("classifier", "--out", "taken"), "taken: already exists and is not empty"),
        (("classifier", "--out", "new", "--slice-len", "100"), "--slice-len must be >= 1024"),
        (("score", "--classifier", "nothing", "--audio", "clips"), "classifier.json: missing"),
        (("score", "--classifier", str(folder), "--workdir", "no-run"), "config.json: no such file"),
    ]:
        result = run_cli(*args, cwd=tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr


# --------------------------------------------------------------------------- FSDD calibration


@pytest.fixture(scope="module")
def fsdd_classifier(tmp_path_factory):
    import os

    root = os.environ.get("GAN_JAX_DATA")
    if not root:
        pytest.skip("GAN_JAX_DATA is unset (CI sets it to ../shared/data): no FSDD to calibrate on")
    out = tmp_path_factory.mktemp("fsdd") / "cls"
    with xla_optimised():
        clf = E.train_and_save(f"{root}/fsdd", out, progress=False, steps=800)
    _, test = E.classifier_data(f"{root}/fsdd", pitch=False, sample_rate=SR, slice_len=16384)
    return clf, np.stack(test.clips)[..., 0]


def test_fsdd_calibration(fsdd_classifier):
    clf, real = fsdd_classifier
    assert clf.info["heldout_clips"] == 300 and clf.info["heldout_accuracy"] >= 0.95
    assert E.score(clf, real, SR)["is_all"] >= 9.0
    rng = np.random.default_rng(1)
    for name, audio in {"white noise": 0.3 * rng.standard_normal((300, 16384)),
                        "silence": np.zeros((300, 16384)), "tones": tones(300)}.items():
        scores = E.score(clf, audio, SR)
        assert scores["is_all"] <= 1.5 and scores["entropy"] > 0.6 * np.log(10), (name, scores)
    fd = [E.score(clf, noisy(real, level), SR)["fd"] for level in (0.0, 0.01, 0.03, 0.1, 0.3)]
    assert fd == sorted(fd), fd
    # Reversed speech, left where it was: speech's spectrum, no words (a plain classifier: IS ~5;
    # this one has scored 2.92 (README) and 3.02 (a CI run): the bound is 3.5, far below 9).
    reversed_ = np.zeros_like(real)
    for row, clip in zip(reversed_, real):
        n = np.nonzero(np.abs(clip) > 1e-4 * np.abs(clip).max())[0][-1] + 1
        row[:n] = clip[:n][::-1]
    assert E.score(clf, reversed_, SR)["is_all"] <= 3.5
