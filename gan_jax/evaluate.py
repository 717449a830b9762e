"""What a run sounds like, in numbers: a trained classifier (`gan_jax.classifier`) scores clips.

- `classifier_data` picks the labelled data a classifier learns from: SC09/FSDD digits
  (FSDD's official split: train on train, report test accuracy), the embedded sounds, or
  pitched notes (NSynth, note folders, embedded notes; label = MIDI pitch).
- `score(clf, audio, sample_rate, pitches=...)` gives one flat dict:
  * `is_mean`/`is_std`: Inception Score over 10 splits (the WaveGAN paper's way), and
    `is_all` over all n at once. With few clips per split p(y) is estimated from few
    clips, so the 10-split figure cannot reach the class count at small n; compare
    scores at equal n only.
  * `fd`: Fréchet distance between the clips' features and the classifier's training
    set. It is biased upward at small n: compare only at equal `n`.
  * `ndb`, `ndb_k`, `jsd`: the GANSynth paper's NDB -- k-means bins of the training
    features, the bins whose share differs significantly (alpha 0.05) -- and the
    Jensen-Shannon divergence of the bin histograms.
  * `entropy` (mean label entropy, nats) and `histogram` (argmax counts per class).
  * `nearest_train` (mean distance of each clip's features to the nearest training clip)
    beside `heldout_nearest_train` (the same for real held-out clips): much lower
    than the held-out figure means memorised training clips.
  * for pitch classifiers and requested pitches: `pitch_accuracy` (argmax == requested),
    `pitch_entropy` and, with `pyin=True`, `pyin_accuracy` from librosa's pYIN tracker
    (independent of the classifier) and `pyin_by_pitch`.
  * for class-conditional runs (`model.num_classes`) and a classifier of the same classes:
    `label_accuracy` (argmax == the class G was asked for).
- `generate_clips` draws clips from a run; `Evaluator` scores a run while it trains.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jax
import numpy as np

from gan_jax import classifier as clf_lib
from gan_jax import data, gallery, metrics, notes, sampling
from gan_jax.dataset import AudioDataset, DataError
from gan_jax.models import get_model

PITCH_RANGE = (24, 84)          # GANSynth's 61 classes


# --------------------------------------------------------------------------- classifier data


def _subset(ds: AudioDataset, idx, source: str) -> AudioDataset:
    idx = np.asarray(idx)
    return dataclasses.replace(ds, clips=[ds.clips[i] for i in idx], labels=ds.labels[idx],
                               files=[ds.files[i] for i in idx], source=source)


def _random_split(ds: AudioDataset, seed: int, fraction: float = 0.15):
    order = np.random.default_rng(seed).permutation(len(ds))
    cut = max(1, round(fraction * len(ds)))
    return _subset(ds, order[cut:], ds.source), _subset(ds, order[:cut], f"{ds.source} (held out)")


def classifier_data(path: str | None, *, pitch: bool, sample_rate: int, slice_len: int,
                    seed: int = 0) -> tuple[AudioDataset, AudioDataset]:
    """(training set, held-out set) for a classifier. pitch: notes labelled by MIDI pitch
    (held-out: a random 15 %); else the dataset's classes (held-out: FSDD's test split, the
    embedded set's held-out seed, or a random 15 % of folders with no FSDD names)."""
    if pitch:
        ds = notes.load_notes(path or None, sample_rate=sample_rate, slice_len=slice_len,
                              pitch_min=PITCH_RANGE[0], pitch_max=PITCH_RANGE[1], n_per_pitch=8, seed=seed)
        return _random_split(ds, seed)
    load = lambda split: data.load_dataset(path or None, sample_rate=sample_rate, slice_len=slice_len,
                                           split=split, seed=seed, n_per_class=100)
    try:
        train, heldout = load("train"), load("test")
    except DataError as e:
        if "split=" not in str(e):
            raise
        return _random_split(_labelled(load("all")), seed)
    return _labelled(train), heldout


def _labelled(ds: AudioDataset) -> AudioDataset:
    if ds.num_classes == 0 or np.any(ds.labels < 0):
        unlabelled = [f for f, lab in zip(ds.files, ds.labels) if lab < 0][:3]
        raise DataError(f"{ds.source}: the classifier needs a label for every clip (FSDD "
                        f"7_jackson_12.wav or SC09 Seven_x.wav names); no label for {', '.join(unlabelled)}")
    return ds


def train_and_save(path: str | None, out, *, pitch: bool = False, progress: bool = True,
                   **settings) -> clf_lib.Classifier:
    """`evaluate.py classifier`: data, training, temperature and statistics, saved to `out`."""
    out = clf_lib.check_out(out)
    base = clf_lib.pitch_settings(**settings) if pitch else settings
    cfg = clf_lib.ClassifierConfig(kind="pitch" if pitch else "classes", **base)
    train, heldout = classifier_data(path, pitch=pitch, sample_rate=cfg.sample_rate,
                                     slice_len=cfg.slice_len, seed=cfg.seed)
    cfg = dataclasses.replace(cfg, label_names=train.label_names)
    clf = clf_lib.train_classifier(cfg, train, heldout, progress=progress)
    clf_lib.save(clf, out)
    return clf


# --------------------------------------------------------------------------- scores


def score(clf: clf_lib.Classifier, audio, sample_rate: int, *, pitches=None, labels=None,
          splits: int = 10, pyin: bool = False) -> dict:
    """The scores of clips [N, T] or [N, T, C] at `sample_rate` (see the module docstring)."""
    probs, feats = clf_lib.predict(clf, audio, sample_rate)
    n = len(probs)
    out = {"n": n, "is_all": metrics.inception_score_all(probs)}
    if n >= splits:   # shuffled first: clips in class order (a sorted folder) would put one class in each split
        shuffled = probs[np.random.default_rng(0).permutation(n)]
        out["is_mean"], out["is_std"] = metrics.inception_score(shuffled, splits)
    out["fd"] = metrics.frechet_distance(*metrics.feature_stats(feats),
                                         *metrics.feature_stats(clf.train_feats))
    k = len(clf.centroids)
    out.update(metrics.ndb_jsd(metrics.assign_bins(clf.train_feats, clf.centroids),
                               metrics.assign_bins(feats, clf.centroids), k))
    out["entropy"] = metrics.label_entropy(probs)
    out["histogram"] = metrics.class_histogram(probs).tolist()
    out["nearest_train"] = metrics.nearest_distance(feats, clf.train_feats)
    out["heldout_nearest_train"] = metrics.nearest_distance(clf.heldout_feats, clf.train_feats)
    if pitches is not None and clf.cfg.kind == "pitch":
        out.update(_pitch_scores(clf, probs, audio, sample_rate, np.asarray(pitches), pyin))
    if labels is not None and clf.cfg.kind != "pitch":
        out["label_accuracy"] = float(np.mean(probs.argmax(-1) == np.asarray(labels)))
    return out


def _pitch_scores(clf, probs, audio, sample_rate: int, pitches, pyin: bool) -> dict:
    low = int(clf.cfg.label_names[0])
    requested = pitches - low
    out = {"pitch_accuracy": float(np.mean(probs.argmax(-1) == requested)),
           "pitch_entropy": metrics.label_entropy(probs)}
    if pyin:
        tracked = pyin_pitches(audio, sample_rate)
        hits = tracked == pitches
        out["pyin_accuracy"] = float(np.mean(hits))
        out["pyin_by_pitch"] = {int(p): float(np.mean(hits[pitches == p])) for p in np.unique(pitches)}
    return out


def pyin_pitches(audio, sample_rate: int) -> np.ndarray:
    """Median pYIN pitch (rounded MIDI) of each clip's voiced frames; -1 where none is voiced."""
    import librosa

    audio = np.asarray(audio, np.float32)
    audio = audio.mean(axis=-1) if audio.ndim == 3 else audio
    out = np.full(len(audio), -1, np.int64)
    for i, clip in enumerate(audio):
        f0, voiced, _ = librosa.pyin(clip, fmin=librosa.midi_to_hz(PITCH_RANGE[0] - 1),
                                     fmax=librosa.midi_to_hz(PITCH_RANGE[1] + 1), sr=sample_rate,
                                     frame_length=2048)
        f0 = f0[voiced & np.isfinite(f0)]
        if f0.size:
            out[i] = int(np.round(librosa.hz_to_midi(np.median(f0))))
    return out


def format_table(scores: dict) -> str:
    """The scores as aligned `name  value` lines, for people."""
    rows = [(name, gallery.format_score(value)) for name, value in scores.items()]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


# --------------------------------------------------------------------------- runs


def generate_clips(gen, key, n: int, *, batch: int = 64, progress: bool = False):
    """(audio [n, T, C], what G was asked for) from a run's Generator: {"pitches": [n]} for a
    pitch-conditioned model, {"labels": [n]} for a class-conditional one (each drawn
    uniformly), else {}; pass it on as `score(..., **asked)`."""
    cfg = gen.config
    k_z, k_c, k_g = jax.random.split(key, 3)
    z = sampling.random_latents(cfg, k_z, n)
    model = get_model(cfg.model_name)
    if model.pitch_range is not None:
        low, high = model.pitch_range(cfg.model)
        pitches = np.asarray(jax.random.randint(k_c, (n,), low, high + 1))
        return sampling.generate(gen, k_g, z, pitches, batch=batch, progress=progress), {"pitches": pitches}
    k = model.num_classes(cfg.model)
    labels = np.asarray(jax.random.randint(k_c, (n,), 0, k)) if k else None
    audio = sampling.generate(gen, k_g, z, batch=batch, progress=progress, label=labels)
    return audio, {} if labels is None else {"labels": labels}


def score_folder(clf: clf_lib.Classifier, folder, *, sample_rate: int, slice_len: int, n: int | None = None,
                 pyin: bool = False) -> dict:
    """Scores of the audio files in `folder`, read at `sample_rate` and `slice_len` (a run's,
    or the classifier's); pitches come from the file names (e.g. gallery or NSynth names)."""
    ds = data.load_folder(folder, sample_rate=sample_rate, slice_len=slice_len, normalize=False)
    clips = np.stack(ds.clips)[:n]
    pitches = [notes.parse_pitch_from_name(f) for f in ds.files[: len(clips)]]
    known = None if any(p is None for p in pitches) else np.asarray(pitches)
    return score(clf, clips, sample_rate, pitches=known, pyin=pyin)


class Evaluator:
    """Scores a training run's snapshots: the same n latents (and pitches) every time, so
    the numbers move only because G does."""

    def __init__(self, classifier_dir, n: int, seed: int = 0):
        self.clf = clf_lib.load_classifier(classifier_dir)
        self.n, self.key = n, jax.random.key(seed)

    def __call__(self, gen) -> dict:
        audio, asked = generate_clips(gen, self.key, self.n)
        return score(self.clf, audio, gen.config.data.sample_rate, **asked)


def append_jsonl(path: Path, record: dict) -> None:
    """One JSON object per line; non-finite floats become null (strict JSON)."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
    with open(path, "a") as f:
        f.write(json.dumps(clean) + "\n")
