"""`AudioDataset` and what every loader shares: argument checks, progress, warnings.

An `AudioDataset` holds decoded clips, their labels and a deterministic, resumable,
shardable batch stream over them (see `AudioDataset.batches`). The loaders fill it:
`gan_jax.data` (folders of audio files, the `load_dataset` entry point),
`gan_jax.notes` (pitched notes for GANSynth) and `gan_jax.synth` (the embedded sets that
need no files). Errors are `DataError` (a ``ValueError``) with a one-line message naming
the folder, file or argument.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
from collections.abc import Iterator, Sequence

import numpy as np

SLICINGS = ("first", "random")

_MASK64 = (1 << 64) - 1
_WARN_EXAMPLES = 3  # names shown in a "skipped" warning


class DataError(ValueError):
    """A dataset could not be built; the message is one line naming the folder or file."""


# --------------------------------------------------------------------------- shared checks


def check_choice(name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise DataError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def check_sizes(sample_rate: int, slice_len: int, num_channels: int) -> None:
    for name, value in (("sample_rate", sample_rate), ("slice_len", slice_len), ("num_channels", num_channels)):
        if int(value) != value or value <= 0:
            raise DataError(f"{name} must be a positive integer, got {value!r}")


def check_pitch_range(pitch_min, pitch_max) -> tuple[int, int]:
    for name, value in (("pitch_min", pitch_min), ("pitch_max", pitch_max)):
        if isinstance(value, bool) or int(value) != value or not 0 <= value <= 127:
            raise DataError(f"{name} must be a MIDI pitch (integer 0-127), got {value!r}")
    if pitch_min > pitch_max:
        raise DataError(f"pitch_min={pitch_min} is above pitch_max={pitch_max}")
    return int(pitch_min), int(pitch_max)


def seed64(seed: int) -> int:
    """`seed` as an unsigned 64-bit word (numpy seed sequences refuse negative ints)."""
    return int(seed) & _MASK64


# --------------------------------------------------------------------------- shared reporting


def progress(items: list, root: str):
    """`items` with a "decoding <folder>" progress bar on stderr for big folders."""
    from tqdm import tqdm

    # Quiet for small folders and when stderr is a log file rather than a terminal.
    disable = len(items) < 50 or not sys.stderr.isatty()
    desc = f"decoding {os.path.basename(os.path.normpath(root)) or root}"
    return tqdm(items, desc=desc, unit="file", file=sys.stderr, disable=disable, leave=False)


def summarise(items: Sequence[str], limit: int = _WARN_EXAMPLES) -> str:
    """The first few base names of `items`, then "and N more"."""
    shown = ", ".join(os.path.basename(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def report_skipped(log: logging.Logger, where: str, skipped: Sequence[tuple[str, str]], total: int,
                   what: str, *, usable: bool, noun: str = "audio", hint: str = "") -> None:
    """For the (name, reason) pairs a loader skipped out of `total` `what`: DataError naming
    the first when nothing is `usable`, else one WARNING naming the first few."""
    if not usable:
        name, reason = skipped[0]
        raise DataError(f"{where}: no usable {noun}, all {len(skipped)} {what} were skipped "
                        f"(first: {name}: {reason}){hint}")
    if not skipped:
        return
    shown = "; ".join(f"{name}: {reason}" for name, reason in skipped[:_WARN_EXAMPLES])
    more = f"; and {len(skipped) - _WARN_EXAMPLES} more" if len(skipped) > _WARN_EXAMPLES else ""
    log.warning("%s: skipped %d of %d %s: %s%s", where, len(skipped), total, what, shown, more)


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
        check_choice("slicing", self.slicing, SLICINGS)
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
        self.seed = seed64(seed)
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


def pitch_label_names(pitch_min: int, pitch_max: int) -> tuple[str, ...]:
    """("24", ..., "84"): one MIDI pitch string per class, label = pitch - pitch_min."""
    return tuple(str(p) for p in range(pitch_min, pitch_max + 1))


def pitched_dataset(source: str, clips, pitches, files, *, pitch_min: int, pitch_max: int, sample_rate: int,
                    slice_len: int, skipped=(), ignored=()) -> AudioDataset:
    """Notes of exactly slice_len samples labelled ``pitch - pitch_min``, every pitch of the
    range a label name (present or not): the conditioning GANSynth uses."""
    return AudioDataset(
        clips=clips,
        labels=np.asarray(pitches, dtype=np.int32) - pitch_min,
        label_names=pitch_label_names(pitch_min, pitch_max),
        sample_rate=int(sample_rate),
        slice_len=int(slice_len),
        slicing="first",
        source=source,
        files=list(files),
        skipped=list(skipped),
        ignored=list(ignored),
    )
