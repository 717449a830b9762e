"""Calibration of a classifier's scores: real held-out clips against junk, as a JSON line each.

    uv run python evaluate.py classifier --data ../shared/data/fsdd --out cls/fsdd
    uv run python benchmarks/calibration.py --classifier cls/fsdd --data ../shared/data/fsdd

Conditions: the held-out (FSDD test) clips; white noise; silence; steady sine tones
(60 Hz - 5 kHz); the real clips plus white noise at three levels; the real clips reversed
and chunk-shuffled in place (nonsense with speech's spectrum). Every condition has the
same n (the held-out set's size), since IS, FD and NDB depend on n. Prints a JSON line per
condition and then a Markdown table (the README's calibration table).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_jax import classifier, evaluate  # noqa: E402

COLUMNS = ("is_all", "is_mean", "entropy", "fd", "ndb", "jsd", "nearest_train")


def conditions(real_NxT: np.ndarray, sample_rate: int, seed: int = 0) -> dict:
    n, length = real_NxT.shape
    rng = np.random.default_rng(seed)
    t = np.arange(length) / sample_rate
    out = {"real (held out)": real_NxT,
           "white noise": 0.3 * rng.standard_normal((n, length)),
           "silence": np.zeros((n, length)),
           "sine tones": np.stack([0.5 * np.sin(2 * np.pi * f * t) for f in np.geomspace(60, 5000, n)])}
    for level in (0.01, 0.03, 0.1):
        out[f"real + noise {level}"] = real_NxT + level * rng.standard_normal(real_NxT.shape)
    out["real, reversed"] = np.stack([_in_place(c, lambda x: x[::-1]) for c in real_NxT])
    def shuffle(x):
        parts = np.array_split(x, 8)
        return np.concatenate([parts[i] for i in rng.permutation(8)])

    out["real, 8 chunks shuffled"] = np.stack([_in_place(c, shuffle) for c in real_NxT])
    return out


def _in_place(clip, scramble):
    """`scramble` applied to the sounding part of a clip (up to its last sample above -80 dB),
    which stays where it was: the speech is scrambled, not moved."""
    n = int(np.nonzero(np.abs(clip) > 1e-4 * np.abs(clip).max())[0][-1]) + 1
    out = np.zeros_like(clip)
    out[:n] = scramble(clip[:n])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classifier", required=True)
    p.add_argument("--data", help="the classifier's data (default: the embedded set)")
    args = p.parse_args()
    clf = classifier.load_classifier(args.classifier)
    _, heldout = evaluate.classifier_data(args.data, pitch=clf.cfg.kind == "pitch",
                                          sample_rate=clf.cfg.sample_rate, slice_len=clf.cfg.slice_len)
    real = np.stack(heldout.clips)[..., 0]
    rows = []
    for name, audio in conditions(real, clf.cfg.sample_rate).items():
        scores = evaluate.score(clf, audio, clf.cfg.sample_rate)
        print(json.dumps({"condition": name, **scores}))
        rows.append((name, scores))
    print(f"\n| clips (n = {len(real)}) | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, scores in rows:
        cells = [f"{scores[c]:.3g}" if isinstance(scores[c], float) else str(scores[c]) for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
