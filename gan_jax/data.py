"""Audio datasets for gan_jax: folders of audio files and an embedded synthetic set.

Two sources produce the same `AudioDataset`:

* `load_folder(path, ...)` walks a folder recursively and decodes every ``.wav``,
  ``.flac``, ``.ogg`` and ``.mp3`` file.
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

* `embedded_dataset(...)` needs no files at all; see `EMBEDDED_DESCRIPTION`.

`AudioDataset.batches` yields an infinite, deterministic, resumable and shardable
stream of batches (see its docstring). librosa is imported only when a file has to
be decoded by it, so model and training code can import this module without it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import sys
import warnings
from collections.abc import Iterator, Sequence

import numpy as np

from gan_jax import files

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
SLICINGS = ("first", "random")
SPLITS = ("all", "train", "test")

LABEL_NAMES_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# FSDD's README: "the test set officially consists of the first 10% of the recordings.
# Recordings numbered 0-4 (inclusive) are in the test and 5-49 are in the training set."
FSDD_TEST_INDICES = range(5)

EMBEDDED_CLASSES = (
    "kick",
    "snare",
    "hihat",
    "clap",
    "tom",
    "pluck",
    "bell",
    "chirp_up",
    "chirp_down",
    "vibrato",
)

EMBEDDED_DESCRIPTION = """\
The embedded dataset is generated on the fly with numpy: no download, no files, the
same clips for the same seed. It has 10 classes of short sounds (label = index):
  0 kick       - sine with a fast exponential pitch drop (to 40-65 Hz), exponential decay, click
  1 snare      - 170-250 Hz tone plus band-limited noise, each with its own decay
  2 hihat      - short high-passed noise burst (a few open hats with longer tails)
  3 clap       - 3-4 band-pass noise bursts about 10 ms apart, then a noisy tail
  4 tom        - 90-220 Hz sine with a gentle pitch drop and a longer decay
  5 pluck      - harmonic string pluck (E2-E4), higher harmonics decay faster (Karplus-Strong-like)
  6 bell       - inharmonic partials (Risset ratios on a 500-1200 Hz nominal pitch), lows ring longest
  7 chirp_up   - rising exponential sine sweep (150-400 Hz up to 1.5-5 kHz)
  8 chirp_down - falling exponential sine sweep (1.5-5 kHz down to 100-400 Hz)
  9 vibrato    - steady harmonic tone (220-660 Hz) with 4-7 Hz vibrato of 2-5 %
Every clip has random variation: pitch, decay, onset jitter (0-50 ms), loudness
(peak 0.25-0.95), a low noise floor (-60 to -40 dB) and, for stereo, a random pan.
Frequencies are kept below the Nyquist frequency of the requested sample rate. It is
a smoke test and demo set that trains in minutes, not a benchmark."""

# Extensions that look like audio but are not decoded; ignoring them is worth a warning,
# whereas sidecar files (json, txt, licences) are only logged at INFO level.
_AUDIO_LIKE_EXTENSIONS = frozenset(
    {".aif", ".aiff", ".aifc", ".au", ".m4a", ".aac", ".wma", ".opus", ".oga", ".wv", ".ape", ".caf", ".mp4"}
)
_FSDD_NAME = re.compile(r"^(\d)_([^_]+)_(\d+)$")
_SPLIT_SALT = 0x7E57  # derives the held-out seed of the embedded dataset
_MASK64 = (1 << 64) - 1


class DataError(ValueError):
    """A dataset could not be built; the message is one line naming the folder or file."""


class _BadAudio(DataError):
    """One file cannot be used; the message is the reason (no path). Skipped by load_folder."""


# --------------------------------------------------------------------------- dataset


@dataclasses.dataclass
class AudioDataset:
    """Decoded clips plus labels, and a deterministic batch stream over them.

    `clips[i]` is float32 ``[T_i, C]``; with ``slicing == "first"`` every ``T_i`` equals
    ``slice_len``, with ``"random"`` every ``T_i >= slice_len`` for loaded files (shorter
    clips are padded when drawn). `labels` is int32 ``[N]`` with -1 for unknown.
    `skipped` lists ``(file, reason)`` for files that could not be used and `ignored`
    the files without a supported audio extension.
    """

    clips: list[np.ndarray]
    labels: np.ndarray
    label_names: tuple[str, ...]
    sample_rate: int
    slice_len: int
    slicing: str
    source: str
    files: list[str]
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    ignored: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.slicing not in SLICINGS:
            raise DataError(f"slicing must be one of {SLICINGS}, got {self.slicing!r}")
        if not self.clips:
            raise DataError(f"dataset from {self.source} has no clips")
        self.clips = [_as_clip(c) for c in self.clips]
        self.labels = np.asarray(self.labels, dtype=np.int32).reshape(-1)
        self.label_names = tuple(self.label_names)
        self.sample_rate = int(self.sample_rate)
        self.slice_len = int(self.slice_len)
        if not (len(self.clips) == len(self.labels) == len(self.files)):
            raise DataError(
                f"dataset from {self.source}: {len(self.clips)} clips, {len(self.labels)} labels and "
                f"{len(self.files)} files differ in number"
            )
        channels = {c.shape[1] for c in self.clips}
        if len(channels) != 1:
            raise DataError(f"dataset from {self.source} mixes channel counts {sorted(channels)}")
        if self.slicing == "first" and any(c.shape[0] != self.slice_len for c in self.clips):
            raise DataError(f"dataset from {self.source}: slicing='first' needs every clip to be slice_len long")

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def num_channels(self) -> int:
        return int(self.clips[0].shape[1])

    @property
    def num_classes(self) -> int:
        """Number of label names (0 when the dataset is unlabelled)."""
        return len(self.label_names)

    def batches(
        self,
        seed: int,
        batch_shape: tuple[int, ...],
        start: int = 0,
        shard: tuple[int, int] = (0, 1),
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Infinite iterator of (audio float32 [*batch_shape, slice_len, C], labels int32 [*batch_shape]).

        Examples are drawn epoch by epoch from a permutation that depends only on
        (seed, epoch): batch k holds the flattened stream positions
        ``k*prod(batch_shape) ... (k+1)*prod(batch_shape) - 1`` (row-major over
        `batch_shape`), and stream position p is example ``perm(seed, p // N)[p % N]``,
        so every example is seen once per epoch and batches may straddle epochs.
        `start` = number of batches already consumed; resuming jumps straight there.
        Random slicing draws each window offset from a hash of (seed, stream position),
        so it too is reproducible. `shard=(index, count)` yields only this process's
        rows: the last axis of `batch_shape` is split into `count` equal contiguous
        parts and part `index` is returned (the axis must be divisible by `count`).
        """
        shape = _check_batch_shape(batch_shape)
        index, count = _check_shard(shard, shape[-1])
        if int(start) < 0:
            raise DataError(f"start must be >= 0, got {start}")
        per_batch = math.prod(shape)
        width = shape[-1] // count
        # Stream offsets (within one batch) of the rows this shard owns.
        local = np.arange(per_batch, dtype=np.int64).reshape(shape)[..., index * width : (index + 1) * width]
        order = _EpochOrder(seed, len(self))
        return self._batch_stream(order, local, per_batch, int(start), seed)

    def _batch_stream(self, order: _EpochOrder, local: np.ndarray, per_batch: int, start: int, seed: int):
        # Separate from `batches` so argument errors raise at the call, not at the first next().
        k = start
        while True:
            positions = k * per_batch + local
            idx = order.examples(positions)
            yield self._gather(idx, positions, seed), self.labels[idx]
            k += 1

    def _gather(self, idx: np.ndarray, positions: np.ndarray, seed: int) -> np.ndarray:
        flat_idx = idx.reshape(-1)
        out = np.zeros((flat_idx.size, self.slice_len, self.num_channels), dtype=np.float32)
        if self.slicing == "random":
            lengths = np.array([self.clips[i].shape[0] for i in flat_idx], dtype=np.int64)
            room = np.maximum(lengths - self.slice_len, 0) + 1
            offsets = (_hash64(seed, positions.reshape(-1)) % room.astype(np.uint64)).astype(np.int64)
        else:
            offsets = np.zeros(flat_idx.size, dtype=np.int64)
        for row, (i, off) in enumerate(zip(flat_idx, offsets)):
            window = self.clips[i][off : off + self.slice_len]
            out[row, : window.shape[0]] = window  # short clips stay zero-padded at the end
        return out.reshape(idx.shape + (self.slice_len, self.num_channels))


class _EpochOrder:
    """Maps stream positions to example indices via per-epoch permutations (cached)."""

    def __init__(self, seed: int, n: int):
        self.seed = int(seed) & _MASK64
        self.n = n
        self._cache: dict[int, np.ndarray] = {}

    def permutation(self, epoch: int) -> np.ndarray:
        perm = self._cache.get(epoch)
        if perm is None:
            # A batch touches at most a few consecutive epochs; keep the cache tiny.
            if len(self._cache) >= 4:
                self._cache.pop(min(self._cache))
            perm = np.random.default_rng([self.seed, epoch, 0x5EED]).permutation(self.n)
            self._cache[epoch] = perm
        return perm

    def examples(self, positions: np.ndarray) -> np.ndarray:
        epochs = positions // self.n
        within = positions % self.n
        out = np.empty(positions.shape, dtype=np.int64)
        for epoch in np.unique(epochs):
            mask = epochs == epoch
            out[mask] = self.permutation(int(epoch))[within[mask]]
        return out


def _hash64(seed: int, positions: np.ndarray) -> np.ndarray:
    """splitmix64 of (seed, position): a counter-based RNG, so any position is O(1) to reach."""
    x = np.asarray(positions, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    x ^= np.uint64((int(seed) * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & _MASK64)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _check_batch_shape(batch_shape) -> tuple[int, ...]:
    shape = (int(batch_shape),) if np.isscalar(batch_shape) else tuple(int(b) for b in batch_shape)
    if not shape or any(b <= 0 for b in shape):
        raise DataError(f"batch_shape must be a non-empty tuple of positive sizes, got {batch_shape!r}")
    return shape


def _check_shard(shard, batch_size: int) -> tuple[int, int]:
    index, count = (int(s) for s in shard)
    if count <= 0 or not 0 <= index < count:
        raise DataError(f"shard must be (index, count) with 0 <= index < count, got {shard!r}")
    if batch_size % count:
        raise DataError(f"batch size {batch_size} is not divisible by the shard count {count}")
    return index, count


def _as_clip(clip) -> np.ndarray:
    arr = np.asarray(clip, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"clips must be [time, channels] arrays, got shape {arr.shape}")
    return arr


# --------------------------------------------------------------------------- labels


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


def _check_common(sample_rate: int, slice_len: int, num_channels: int) -> None:
    for name, value in (("sample_rate", sample_rate), ("slice_len", slice_len), ("num_channels", num_channels)):
        if int(value) != value or value <= 0:
            raise DataError(f"{name} must be a positive integer, got {value!r}")


def _progress(items: list[str], desc: str):
    from tqdm import tqdm

    # Quiet for small folders and when stderr is a log file rather than a terminal.
    disable = len(items) < 50 or not sys.stderr.isatty()
    return tqdm(items, desc=desc, unit="file", file=sys.stderr, disable=disable, leave=False)


def _summarise(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(os.path.basename(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


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
            _summarise(audio_like),
        )
    if len(audio_like) < len(ignored):
        audio_like_set = set(audio_like)
        others = [f for f in ignored if f not in audio_like_set]
        logger.info("%s: ignored %d non-audio file(s): %s", root, len(others), _summarise(others))


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
    _check_common(sample_rate, slice_len, num_channels)
    if slicing not in SLICINGS:
        raise DataError(f"slicing must be one of {SLICINGS}, got {slicing!r}")
    if split not in SPLITS:
        raise DataError(f"split must be one of {SPLITS}, got {split!r}")
    root = os.fspath(path)
    if not os.path.exists(root):
        raise DataError(f"{root}: data folder not found")
    if not os.path.isdir(root):
        raise DataError(f"{root}: not a folder (pass the folder that holds the audio files)")

    files, ignored = find_audio_files(root)
    _report_ignored(root, ignored)
    if not files:
        extra = f" (ignored {len(ignored)} other file(s): {_summarise(ignored)})" if ignored else ""
        raise DataError(f"{root}: no audio files ({'/'.join(AUDIO_EXTENSIONS)}) found{extra}")
    chosen = [f for f in files if _in_split(f, split)]
    if not chosen:
        raise DataError(
            f"{root}: split={split!r} selects none of {len(files)} audio files; the train/test split "
            "needs FSDD names {digit}_{speaker}_{index}.wav (index 0-4 = test)"
        )

    clips, kept, skipped = [], [], []
    for file in _progress(chosen, f"decoding {os.path.basename(os.path.normpath(root)) or root}"):
        try:
            clip = _prepare(
                file,
                sample_rate=sample_rate,
                slice_len=slice_len,
                num_channels=num_channels,
                normalize=normalize,
                slicing=slicing,
            )
        except _BadAudio as exc:
            skipped.append((file, str(exc)))
            continue
        clips.append(clip)
        kept.append(file)

    if not clips:
        first_file, first_reason = skipped[0]
        raise DataError(
            f"{root}: no usable audio, all {len(skipped)} audio file(s) failed "
            f"(first: {os.path.relpath(first_file, root)}: {first_reason})"
        )
    if skipped:
        details = "; ".join(f"{os.path.relpath(f, root)}: {r}" for f, r in skipped[:3])
        more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        logger.warning("%s: skipped %d of %d audio file(s): %s%s", root, len(skipped), len(chosen), details, more)

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


# --------------------------------------------------------------------------- embedded set

_EMBED_CHUNK = 25  # clips per generator call; clip i depends only on (seed, class, i)


def _rng(seed: int, *words: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & _MASK64, *words])


def _onset(rng, n, t, max_delay=0.05):
    """(time since a jittered onset clamped at 0, 1.0 after the onset else 0.0), both [n, T]."""
    tt = t - rng.uniform(0.0, max_delay, (n, 1))
    return np.maximum(tt, 0.0), (tt >= 0).astype(np.float64)


def _band_noise(rng, n, length, sr, lo, hi):
    """White noise band-limited to [lo, hi] Hz per row (FFT mask), unit RMS, [n, T]."""
    freqs = np.fft.rfftfreq(length, 1.0 / sr)
    spec = rng.standard_normal((n, freqs.size)) + 1j * rng.standard_normal((n, freqs.size))
    spec *= (freqs >= lo) & (freqs <= hi)
    noise = np.fft.irfft(spec, n=length, axis=-1)
    return noise / (noise.std(axis=-1, keepdims=True) + 1e-12)


def _gate(ts, duration, attack=0.005, release=0.02):
    """Linear attack / sustain / release window of `duration` seconds, [n, T]."""
    return np.clip(ts / attack, 0.0, 1.0) * np.clip((duration - ts) / release, 0.0, 1.0)


def _drop_phase(ts, f_start, f_end, tau):
    """Phase of a sine gliding exponentially from f_start to f_end with time constant tau."""
    return 2 * np.pi * (f_end * ts + (f_start - f_end) * tau * -np.expm1(-ts / tau))


def _exp_sweep_phase(ts, f0, f1, duration):
    """Phase of a sine whose frequency goes exponentially from f0 to f1 over `duration`, then holds."""
    k = np.log(f1 / f0) / duration
    held = np.minimum(ts, duration)
    return 2 * np.pi * (f0 * np.expm1(k * held) / k + f1 * (ts - held))


def _gen_kick(rng, n, t, sr):
    ts, on = _onset(rng, n, t)
    f_end, f_start = rng.uniform(40, 65, (n, 1)), rng.uniform(120, 250, (n, 1))
    tau_p, tau_a = rng.uniform(0.02, 0.06, (n, 1)), rng.uniform(0.15, 0.4, (n, 1))
    click = rng.uniform(0.05, 0.2, (n, 1)) * _band_noise(rng, n, t.shape[1], sr, 1000, 0.45 * sr)
    body = np.sin(_drop_phase(ts, f_start, f_end, tau_p)) * np.exp(-ts / tau_a)
    return (body + click * np.exp(-ts / 0.002)) * on


def _gen_snare(rng, n, t, sr):
    ts, on = _onset(rng, n, t)
    tone = np.sin(2 * np.pi * rng.uniform(170, 250, (n, 1)) * ts) * np.exp(-ts / rng.uniform(0.04, 0.1, (n, 1)))
    noise = _band_noise(rng, n, t.shape[1], sr, rng.uniform(300, 800, (n, 1)), 0.45 * sr)
    mix = rng.uniform(0.5, 0.8, (n, 1))
    noise *= np.exp(-ts / rng.uniform(0.08, 0.2, (n, 1)))
    return ((1 - mix) * tone + mix * 0.5 * noise) * on


def _gen_hihat(rng, n, t, sr):
    ts, on = _onset(rng, n, t)
    nyq = sr / 2
    noise = _band_noise(rng, n, t.shape[1], sr, rng.uniform(0.55, 0.75, (n, 1)) * nyq, 0.98 * nyq)
    # Mostly closed hats; one in five is open with a longer tail.
    tau = np.where(rng.random((n, 1)) < 0.8, rng.uniform(0.01, 0.05, (n, 1)), rng.uniform(0.1, 0.25, (n, 1)))
    return noise * np.exp(-ts / tau) * on


def _gen_clap(rng, n, t, sr):
    ts, on = _onset(rng, n, t)
    lo = rng.uniform(600, 1000, (n, 1))
    noise = _band_noise(rng, n, t.shape[1], sr, lo, np.minimum(rng.uniform(2500, 4000, (n, 1)), 0.45 * sr))
    gap = rng.uniform(0.008, 0.015, (n, 1))
    bursts = rng.integers(3, 5, (n, 1))
    env = np.zeros_like(ts)
    for b in range(5):  # 3-4 short bursts, then the longer tail starting after the last one
        start = b * gap
        tau = np.where(b < bursts, rng.uniform(0.003, 0.006, (n, 1)), rng.uniform(0.05, 0.15, (n, 1)))
        level = np.where(b < bursts, 1.0, np.where(b == bursts, 0.6, 0.0))
        env += level * np.where(ts >= start, np.exp(-(ts - start) / tau), 0.0)
    return noise * env * on


def _gen_tom(rng, n, t, sr):
    ts, on = _onset(rng, n, t)
    f_end = rng.uniform(90, 220, (n, 1))
    f_start, tau_p = f_end * rng.uniform(1.3, 1.8, (n, 1)), rng.uniform(0.03, 0.08, (n, 1))
    attack = 0.15 * _band_noise(rng, n, t.shape[1], sr, 200, 2000) * np.exp(-ts / 0.01)
    body = np.sin(_drop_phase(ts, f_start, f_end, tau_p)) * np.exp(-ts / rng.uniform(0.2, 0.5, (n, 1)))
    return (body + attack) * on


def _gen_pluck(rng, n, t, sr):
    ts, on = _onset(rng, n, t)
    f0 = 440.0 * 2.0 ** ((rng.integers(40, 65, (n, 1)) - 69) / 12.0)  # E2-E4, guitar range
    pick = rng.uniform(0.1, 0.3, (n, 1))  # pluck position shapes the harmonic amplitudes
    tau0 = rng.uniform(0.3, 1.0, (n, 1))
    phase = 2 * np.pi * f0 * ts
    # sin(k x) by the Chebyshev recurrence: one multiply-add per harmonic instead of a sin.
    two_cos, sin_prev, sin_k = 2 * np.cos(phase), np.zeros_like(ts), np.sin(phase)
    out = np.zeros_like(ts)
    for k in range(1, 17):
        fk = k * f0
        if np.all(fk >= 0.45 * sr):
            break
        amp = np.where(fk < 0.45 * sr, np.abs(np.sin(np.pi * k * pick)) / k, 0.0)
        # String losses grow with frequency, so upper harmonics die first.
        rate = (1.0 + (fk / 800.0) ** 2) / tau0
        out += amp * sin_k * np.exp(-ts * rate)
        sin_prev, sin_k = sin_k, two_cos * sin_k - sin_prev
    return out * np.minimum(ts / 0.001, 1.0) * on


_BELL_RATIOS = np.array([0.56, 0.92, 1.19, 1.71, 2.0, 2.74, 3.0, 3.76, 4.07])


def _gen_bell(rng, n, t, sr):
    ts, on = _onset(rng, n, t)
    f0 = rng.uniform(500, 1200, (n, 1))
    tau0 = rng.uniform(0.6, 1.5, (n, 1))
    out = np.zeros_like(ts)
    for ratio in _BELL_RATIOS:
        fk = f0 * ratio * rng.uniform(0.99, 1.01, (n, 1))
        amp = np.where(fk < 0.45 * sr, rng.uniform(0.3, 1.0, (n, 1)), 0.0)
        start = rng.uniform(0, 2 * np.pi, (n, 1))
        # Low partials ring longest, as in struck metal.
        out += amp * np.sin(2 * np.pi * fk * ts + start) * np.exp(-ts * (ratio / tau0))
    return out * np.minimum(ts / 0.002, 1.0) * on


def _gen_chirp(rng, n, t, sr, rising):
    ts, on = _onset(rng, n, t)
    low = rng.uniform(150, 400, (n, 1)) if rising else rng.uniform(100, 400, (n, 1))
    high = np.minimum(rng.uniform(1500, 5000, (n, 1)), 0.4 * sr)
    f0, f1 = (low, high) if rising else (high, low)
    duration = rng.uniform(0.3, 0.8, (n, 1))
    return np.sin(_exp_sweep_phase(ts, f0, f1, duration)) * _gate(ts, duration) * on


def _gen_vibrato(rng, n, t, sr):
    ts, on = _onset(rng, n, t)
    f0 = rng.uniform(220, 660, (n, 1))
    rate, depth = rng.uniform(4, 7, (n, 1)), rng.uniform(0.02, 0.05, (n, 1))
    # Integral of f0 * (1 + depth * sin(2 pi rate t)) gives the phase in closed form.
    phase = 2 * np.pi * f0 * (ts + depth * (1 - np.cos(2 * np.pi * rate * ts)) / (2 * np.pi * rate))
    out = np.zeros_like(ts)
    for k, amp in ((1, 1.0), (2, 0.4), (3, 0.2)):
        out += np.where(k * f0 * (1 + depth) < 0.45 * sr, amp, 0.0) * np.sin(k * phase)
    duration = rng.uniform(0.4, 0.9, (n, 1))
    return out * _gate(ts, duration, attack=rng.uniform(0.02, 0.05, (n, 1)), release=0.05) * on


_GENERATORS = (
    _gen_kick,
    _gen_snare,
    _gen_hihat,
    _gen_clap,
    _gen_tom,
    _gen_pluck,
    _gen_bell,
    lambda rng, n, t, sr: _gen_chirp(rng, n, t, sr, rising=True),
    lambda rng, n, t, sr: _gen_chirp(rng, n, t, sr, rising=False),
    _gen_vibrato,
)


def _finish(rng, raw: np.ndarray, num_channels: int) -> np.ndarray:
    """Noise floor, random loudness and pan; returns float32 [n, T, C] within [-1, 1]."""
    n, length = raw.shape
    peak = np.max(np.abs(raw), axis=1, keepdims=True) + 1e-12
    floor = 10.0 ** (rng.uniform(-60, -40, (n, 1)) / 20.0)
    x = raw / peak + floor * rng.standard_normal((n, length))
    x *= rng.uniform(0.25, 0.95, (n, 1)) / np.max(np.abs(x), axis=1, keepdims=True)
    if num_channels == 1:
        return x[:, :, None].astype(np.float32)
    angle = rng.uniform(0.2, 0.8, (n, 1, 1)) * (np.pi / 2)  # constant-power pan
    return (x[:, :, None] * np.concatenate([np.cos(angle), np.sin(angle)], axis=2)).astype(np.float32)


def embedded_dataset(
    *,
    sample_rate: int = 16000,
    slice_len: int = 16384,
    num_channels: int = 1,
    n_per_class: int = 100,
    seed: int = 0,
) -> AudioDataset:
    """The built-in synthetic dataset (see `EMBEDDED_DESCRIPTION`), deterministic in `seed`.

    Clip i of a class depends only on (seed, class, i, sample_rate, slice_len,
    num_channels), so a smaller `n_per_class` gives a prefix of a larger one.
    num_channels is 1 (mono) or 2 (the mono sound panned at random).
    """
    _check_common(sample_rate, slice_len, num_channels)
    if num_channels > 2:
        raise DataError(f"the embedded dataset has 1 or 2 channels, got num_channels={num_channels}")
    if int(n_per_class) != n_per_class or n_per_class <= 0:
        raise DataError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    t = (np.arange(slice_len, dtype=np.float64) / sample_rate)[None, :]
    clips, labels, files = [], [], []
    for label, (name, generate) in enumerate(zip(EMBEDDED_CLASSES, _GENERATORS)):
        for chunk in range(math.ceil(n_per_class / _EMBED_CHUNK)):
            # Fixed-size chunks with their own stream keep clip i independent of n_per_class.
            rng = _rng(seed, label, chunk)
            batch = _finish(rng, generate(rng, _EMBED_CHUNK, t, sample_rate), num_channels)
            take = min(_EMBED_CHUNK, n_per_class - chunk * _EMBED_CHUNK)
            for j in range(take):
                clips.append(batch[j])
                files.append(f"embedded:{name}:{chunk * _EMBED_CHUNK + j}")
            labels.extend([label] * take)
    return AudioDataset(
        clips=clips,
        labels=np.array(labels, dtype=np.int32),
        label_names=EMBEDDED_CLASSES,
        sample_rate=int(sample_rate),
        slice_len=int(slice_len),
        slicing="first",
        source="embedded",
        files=files,
    )


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
        if split not in SPLITS:
            raise DataError(f"split must be one of {SPLITS}, got {split!r}")
        if slicing not in SLICINGS:
            raise DataError(f"slicing must be one of {SLICINGS}, got {slicing!r}")
        if split == "test":
            seed = int(np.random.SeedSequence([int(seed) & _MASK64, _SPLIT_SALT]).generate_state(1)[0])
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
