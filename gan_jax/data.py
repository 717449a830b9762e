"""Audio datasets from folders of audio files, and `load_dataset`, the entry point that
also returns the embedded set (`gan_jax.synth`) when no folder is given.

`load_folder(path, ...)` walks a folder recursively and decodes every ``.wav``,
``.flac``, ``.ogg`` and ``.mp3`` file into an `AudioDataset` (`gan_jax.dataset`).

- Each file is mapped to the requested number of channels (N channels -> 1 by
  averaging, 1 -> N by duplication), resampled to the requested rate (soxr, the
  same filter as ``librosa.resample(res_type="soxr_hq")``) and optionally
  peak-normalised (``x / max|x|``; silent clips are left alone).
- ``slicing="first"`` keeps the first ``slice_len`` samples and zero-pads short
  files at the end (one-shots, SC09, FSDD). ``slicing="random"`` keeps whole files
  and draws a fresh random window every time a clip is drawn; files shorter than
  the window are zero-padded at the end. Short files are never dropped (unlike the
  reference loader, where they silently vanish without ``pad_end``).
- Labels come from SC09 names (``Zero_x.wav`` or ``zero/x.wav``) and FSDD names
  (``7_jackson_12.wav``); anything else is labelled -1. ``split="train"|"test"``
  uses FSDD's official split (recording index 0-4 is the test set).
- Bad files (not audio, corrupt, empty, wrong channel count) are skipped and listed
  in ``AudioDataset.skipped``, with one warning on the ``gan_jax.data`` logger.
  When nothing usable is left, `DataError` (a ``ValueError``) is raised with a
  one-line message naming the folder or file and the problem.
- Files with other extensions are ignored, counted and logged; hidden files
  (names starting with ".", e.g. macOS ``._x.wav`` resource forks) are ignored.

librosa is imported only when a file has to be decoded by it, so model and training
code can import this module without it.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings

import numpy as np

from gan_jax import files
from gan_jax.dataset import (
    SLICINGS,
    AudioDataset,
    DataError,
    check_choice,
    check_sizes,
    progress,
    report_skipped,
    seed64,
    summarise,
)
from gan_jax.synth import embedded_dataset

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
SPLITS = ("all", "train", "test")

LABEL_NAMES_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# FSDD's README: "the test set officially consists of the first 10% of the recordings.
# Recordings numbered 0-4 (inclusive) are in the test and 5-49 are in the training set."
FSDD_TEST_INDICES = range(5)


# whereas sidecar files (json, txt, licences) are only logged at INFO level.
_AUDIO_LIKE_EXTENSIONS = frozenset(
    {".aif", ".aiff", ".aifc", ".au", ".m4a", ".aac", ".wma", ".opus", ".oga", ".wv", ".ape", ".caf", ".mp4"}
)
_FSDD_NAME = re.compile(r"^(\d)_([^_]+)_(\d+)$")
_SPLIT_SALT = 0x7E57  # derives the held-out seed of the embedded dataset


class _BadAudio(DataError):
    """One file cannot be used; the message is the reason (no path). Skipped by load_folder."""


# --------------------------------------------------------------------------- dataset


def parse_fsdd_name(path: str | os.PathLike) -> tuple[int, str, int] | None:
    """(digit, speaker, index) for an FSDD name like ``7_jackson_12.wav``, else None."""
    match = _FSDD_NAME.match(os.path.splitext(os.path.basename(path))[0])
    if match is None:
        return None
    return int(match.group(1)), match.group(2), int(match.group(3))


def parse_label(path: str | os.PathLike) -> int:
    """Digit label 0-9 from an FSDD or SC09 file name, or -1 when there is none.

    FSDD: ``7_jackson_12.wav`` -> 7. SC09: ``Zero_abc.wav`` (the name before the first
    "_") or ``zero/abc.wav`` (the parent folder), case-insensitive.
    """
    fsdd = parse_fsdd_name(path)
    if fsdd is not None:
        return fsdd[0]
    stem = os.path.splitext(os.path.basename(path))[0]
    for word in (stem.split("_", 1)[0], os.path.basename(os.path.dirname(os.fspath(path)))):
        if word.lower() in LABEL_NAMES_DIGITS:
            return LABEL_NAMES_DIGITS.index(word.lower())
    return -1


def _in_split(path: str, split: str) -> bool:
    if split == "all":
        return True
    fsdd = parse_fsdd_name(path)
    is_test = fsdd is not None and fsdd[2] in FSDD_TEST_INDICES
    # Files without an FSDD index cannot be in the official test set, so they train.
    return is_test if split == "test" else not is_test


# --------------------------------------------------------------------------- decoding


def find_audio_files(root: str | os.PathLike) -> tuple[list[str], list[str]]:
    """(audio files, ignored files) under `root`, recursively, sorted for determinism.

    Hidden files and folders (name starting with ".") are skipped entirely; every other
    file without an extension in `AUDIO_EXTENSIONS` (case-insensitive) is "ignored".
    """
    audio, ignored = [], []
    seen_dirs = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:  # symlink loop
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            (audio if os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS else ignored).append(full)
    return sorted(audio), sorted(ignored)


def _read_file(path: str) -> tuple[np.ndarray, int]:
    """Decode to float32 [T, C] at the file's own rate; soundfile first, librosa as fallback."""
    import soundfile

    try:
        size = os.path.getsize(path)
    except OSError as exc:  # broken symlink, permissions
        raise _BadAudio(f"cannot open ({_one_line(exc.strerror or exc)})") from None
    if size == 0:
        raise _BadAudio("empty file (0 bytes)")
    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
        return data, int(rate)
    except Exception as exc:  # noqa: BLE001 - libsndfile raises assorted errors for unparsable input
        first_error = _one_line(getattr(exc, "error_string", None) or str(exc))
    # libsndfile builds without mp3 support, or codecs only ffmpeg knows, may still be
    # readable through librosa's audioread fallback (gone in librosa 1.0: then this fails too).
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa warns before falling back to audioread
            data, rate = librosa.load(path, sr=None, mono=False, dtype=np.float32)
    except Exception:  # noqa: BLE001 - any decoder failure means this file is unusable
        raise _BadAudio(f"cannot decode as audio ({first_error})") from None
    data = np.asarray(data, dtype=np.float32)
    data = data[:, None] if data.ndim == 1 else data.T  # librosa is channels-first
    return np.ascontiguousarray(data), int(rate)


def _one_line(text: str) -> str:
    return " ".join(str(text).split()).rstrip(".") or "unknown error"


def match_channels(audio: np.ndarray, num_channels: int) -> np.ndarray:
    """[T, C] -> [T, num_channels]: average to mono, duplicate mono, otherwise refuse."""
    have = audio.shape[1]
    if have == num_channels:
        return audio
    if num_channels == 1:
        return audio.mean(axis=1, keepdims=True, dtype=np.float32)
    if have == 1:
        return np.repeat(audio, num_channels, axis=1)
    raise _BadAudio(f"has {have} channels, cannot make {num_channels} (only mono->N duplication and N->mono averaging)")


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample float32 [T, C] along time, exactly like ``librosa.resample(res_type="soxr_hq")``.

    soxr is called directly because librosa's first call pulls in scipy.signal and numba
    (3-15 s); the output length is ``ceil(T * target_sr / orig_sr)`` as in librosa.
    """
    if orig_sr == target_sr:
        return audio
    n_out = math.ceil(audio.shape[0] * target_sr / orig_sr)
    try:
        import soxr
    except ImportError:  # soxr is a librosa dependency, but fall back to scipy's polyphase
        import librosa

        out = librosa.resample(audio, orig_sr=orig_sr, target_sr=target_sr, res_type="polyphase", axis=0)
    else:
        out = soxr.resample(audio, orig_sr, target_sr, quality="HQ")
    return fit_length(np.asarray(out, dtype=np.float32), n_out)


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Truncate or zero-pad [T, C] at the end to exactly `length` samples (a copy when cut)."""
    if audio.shape[0] == length:
        return audio
    if audio.shape[0] > length:
        return audio[:length].copy()  # a copy, so the rest of a long file can be freed
    pad = np.zeros((length - audio.shape[0], audio.shape[1]), dtype=audio.dtype)
    return np.concatenate([audio, pad], axis=0)


def peak_normalize(audio: np.ndarray) -> np.ndarray:
    """x / max|x| over the whole clip and all channels; silent clips are returned unchanged."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < 1e-8:
        return audio
    return (audio / np.float32(peak)).astype(np.float32, copy=False)


def _prepare(path: str, *, sample_rate: int, slice_len: int, num_channels: int, normalize: bool, slicing: str):
    """Decode one file into the clip stored in the dataset; raises _BadAudio with a reason."""
    audio, rate = _read_file(path)
    if audio.shape[0] == 0:
        raise _BadAudio("contains no samples")
    if not np.all(np.isfinite(audio)):
        raise _BadAudio("contains NaN or infinite samples")
    audio = resample(match_channels(audio, num_channels), rate, sample_rate)
    if normalize:
        audio = peak_normalize(audio)
    if slicing == "first":
        return fit_length(audio, slice_len)
    return audio if audio.shape[0] >= slice_len else fit_length(audio, slice_len)


def load_audio(path: str | os.PathLike, *, sample_rate: int, num_channels: int = 1) -> np.ndarray:
    """Decode one file to float32 [T, num_channels] at `sample_rate`; DataError names the problem."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found")
    try:
        audio, rate = _read_file(path)
        if audio.shape[0] == 0:
            raise _BadAudio("contains no samples")
        return resample(match_channels(audio, num_channels), rate, sample_rate)
    except _BadAudio as exc:
        raise DataError(f"{path}: {exc}") from None


def _report_ignored(root: str, ignored: list[str]) -> None:
    if not ignored:
        return
    audio_like = [f for f in ignored if os.path.splitext(f)[1].lower() in _AUDIO_LIKE_EXTENSIONS]
    supported = "/".join(AUDIO_EXTENSIONS)
    if audio_like:
        logger.warning(
            "%s: ignored %d file(s) in an unsupported format (only %s are read): %s",
            root,
            len(audio_like),
            supported,
            summarise(audio_like),
        )
    if len(audio_like) < len(ignored):
        audio_like_set = set(audio_like)
        others = [f for f in ignored if f not in audio_like_set]
        logger.info("%s: ignored %d non-audio file(s): %s", root, len(others), summarise(others))


def load_folder(
    path: str | os.PathLike,
    *,
    sample_rate: int,
    slice_len: int,
    num_channels: int = 1,
    normalize: bool = True,
    slicing: str = "first",
    split: str = "all",
) -> AudioDataset:
    """Decode every audio file under `path` (recursively) into an `AudioDataset`.

    sample_rate: target rate; files are resampled to it. slice_len: example length in
    samples. num_channels: 1 averages multi-channel files, N duplicates mono files.
    normalize: per-file peak normalisation. slicing: "first" (first slice_len samples,
    short files zero-padded at the end) or "random" (whole files kept, a random window
    per draw). split: "all", or FSDD's official "train" / "test" split (index 0-4 is
    test; files without an FSDD name count as train).
    Bad files are skipped (see `AudioDataset.skipped`); `DataError` when none is usable.
    """
    check_sizes(sample_rate, slice_len, num_channels)
    check_choice("slicing", slicing, SLICINGS)
    check_choice("split", split, SPLITS)
    root = os.fspath(path)
    chosen, ignored = _choose_files(root, split)
    clips, kept, skipped = [], [], []
    for file in progress(chosen, root):
        try:
            clips.append(_prepare(file, sample_rate=sample_rate, slice_len=slice_len, num_channels=num_channels,
                                  normalize=normalize, slicing=slicing))
            kept.append(file)
        except _BadAudio as exc:
            skipped.append((file, str(exc)))
    named = [(os.path.relpath(file, root), reason) for file, reason in skipped]
    report_skipped(logger, root, named, len(chosen), "audio file(s)", usable=bool(clips))
    labels = np.array([parse_label(f) for f in kept], dtype=np.int32)
    return AudioDataset(
        clips=clips,
        labels=labels,
        label_names=LABEL_NAMES_DIGITS if np.any(labels >= 0) else (),
        sample_rate=int(sample_rate),
        slice_len=int(slice_len),
        slicing=slicing,
        source=root,
        files=kept,
        skipped=skipped,
        ignored=ignored,
    )


def _choose_files(root: str, split: str) -> tuple[list[str], list[str]]:
    """(audio files of `split` under root, ignored files); DataError when there are none."""
    if not os.path.exists(root):
        raise DataError(f"{root}: data folder not found")
    if not os.path.isdir(root):
        raise DataError(f"{root}: not a folder (pass the folder that holds the audio files)")
    audio, ignored = find_audio_files(root)
    _report_ignored(root, ignored)
    if not audio:
        extra = f" (ignored {len(ignored)} other file(s): {summarise(ignored)})" if ignored else ""
        raise DataError(f"{root}: no audio files ({'/'.join(AUDIO_EXTENSIONS)}) found{extra}")
    chosen = [f for f in audio if _in_split(f, split)]
    if not chosen:
        raise DataError(
            f"{root}: split={split!r} selects none of {len(audio)} audio files; the train/test split "
            "needs FSDD names {digit}_{speaker}_{index}.wav (index 0-4 = test)"
        )
    return chosen, ignored


def load_dataset(
    path: str | os.PathLike | None,
    *,
    sample_rate: int = 16000,
    slice_len: int = 16384,
    num_channels: int = 1,
    normalize: bool = True,
    slicing: str = "first",
    split: str = "all",
    seed: int = 0,
    n_per_class: int = 100,
) -> AudioDataset:
    """A folder dataset, or the embedded one when `path` is None or "".

    Folder: sample_rate, slice_len, num_channels, normalize, slicing and split are
    passed to `load_folder` (seed and n_per_class are unused).
    Embedded: sample_rate, slice_len, num_channels, seed and n_per_class are passed to
    `embedded_dataset`; normalize and slicing are unused (clips are already in [-1, 1]
    and exactly slice_len long); split "all"/"train" use `seed`, "test" a different
    seed derived from it, so held-out clips never repeat training ones.
    """
    if path is None or os.fspath(path) == "":
        check_choice("split", split, SPLITS)
        check_choice("slicing", slicing, SLICINGS)
        if split == "test":
            seed = int(np.random.SeedSequence([seed64(seed), _SPLIT_SALT]).generate_state(1)[0])
        return embedded_dataset(
            sample_rate=sample_rate,
            slice_len=slice_len,
            num_channels=num_channels,
            n_per_class=n_per_class,
            seed=seed,
        )
    return load_folder(
        files.user_path(path),
        sample_rate=sample_rate,
        slice_len=slice_len,
        num_channels=num_channels,
        normalize=normalize,
        slicing=slicing,
        split=split,
    )
