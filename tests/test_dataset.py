"""Tests for gan_jax.dataset: the AudioDataset batch stream (deterministic, resumable,
shardable) and its validation."""

import numpy as np
import pytest

from gan_jax import dataset as DS

SR = 16000


def numbered(n, slice_len=8, slicing="first"):
    """Dataset whose clip i is the constant i + 1, so batches reveal which clips they hold."""
    clips = [np.full((slice_len, 1), i + 1, dtype=np.float32) for i in range(n)]
    return DS.AudioDataset(
        clips=clips,
        labels=np.arange(n) % 3,
        label_names=("a", "b", "c"),
        sample_rate=SR,
        slice_len=slice_len,
        slicing=slicing,
        source="memory",
        files=[f"c{i}" for i in range(n)],
        skipped=[],
    )


def ids(audio):
    return audio[..., 0, 0].astype(np.int64) - 1


def take(iterator, k):
    return [next(iterator) for _ in range(k)]


def test_batch_shapes_and_labels():
    ds = numbered(10)
    for shape in [(4,), (2, 6), (3, 1, 4)]:
        audio, labels = next(ds.batches(seed=0, batch_shape=shape))
        assert audio.shape == shape + (8, 1) and audio.dtype == np.float32
        assert labels.shape == shape and labels.dtype == np.int32
        np.testing.assert_array_equal(labels, ids(audio) % 3)  # labels travel with their clips


def test_batches_deterministic_and_resumable():
    ds = numbered(10)
    first = take(ds.batches(seed=7, batch_shape=(2, 3)), 8)
    second = take(ds.batches(seed=7, batch_shape=(2, 3)), 8)
    for (a, la), (b, lb) in zip(first, second):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
    other = take(ds.batches(seed=8, batch_shape=(2, 3)), 8)
    assert any(not np.array_equal(a, b) for (a, _), (b, _) in zip(first, other))
    for k in range(8):  # includes batches that straddle epochs (6 examples per batch, 10 per epoch)
        resumed, labels = next(ds.batches(seed=7, batch_shape=(2, 3), start=k))
        np.testing.assert_array_equal(resumed, first[k][0])
        np.testing.assert_array_equal(labels, first[k][1])


def test_every_example_once_per_epoch():
    ds = numbered(10)
    stream = np.concatenate([ids(a).reshape(-1) for a, _ in take(ds.batches(seed=1, batch_shape=(4,)), 10)])
    epochs = stream.reshape(4, 10)
    for epoch in epochs:
        np.testing.assert_array_equal(np.sort(epoch), np.arange(10))
    assert len({tuple(e) for e in epochs}) > 1  # reshuffled per epoch


@pytest.mark.parametrize("slicing", ["first", "random"])
@pytest.mark.parametrize("count", [2, 3, 6])
def test_shards_are_slices_of_the_full_batch(count, slicing):
    if slicing == "first":
        ds = numbered(10)
    else:  # long, distinct clips, so the random windows are part of the comparison
        rng = np.random.default_rng(0)
        clips = [rng.standard_normal((50 + 7 * i, 1)).astype(np.float32) for i in range(10)]
        ds = DS.AudioDataset(
            clips=clips,
            labels=np.zeros(10),
            label_names=(),
            sample_rate=SR,
            slice_len=16,
            slicing="random",
            source="memory",
            files=[str(i) for i in range(10)],
            skipped=[],
        )
    full = take(ds.batches(seed=2, batch_shape=(2, 6), start=3), 3)
    width = 6 // count
    for index in range(count):
        part = take(ds.batches(seed=2, batch_shape=(2, 6), start=3, shard=(index, count)), 3)
        for (a, la), (p, lp) in zip(full, part):
            np.testing.assert_array_equal(p, a[:, index * width : (index + 1) * width])
            np.testing.assert_array_equal(lp, la[:, index * width : (index + 1) * width])


def test_bad_batch_arguments():
    ds = numbered(10)
    with pytest.raises(DS.DataError, match="divisible"):
        ds.batches(seed=0, batch_shape=(2, 5), shard=(0, 2))
    with pytest.raises(DS.DataError):
        ds.batches(seed=0, batch_shape=(4,), shard=(2, 2))
    with pytest.raises(DS.DataError):
        ds.batches(seed=0, batch_shape=(0,))
    with pytest.raises(DS.DataError):
        ds.batches(seed=0, batch_shape=(4,), start=-1)


def test_dataset_validation():
    with pytest.raises(DS.DataError):
        numbered(0)
    good = numbered(3)
    with pytest.raises(DS.DataError, match="slice_len"):
        DS.AudioDataset(
            clips=[np.zeros((5, 1))],
            labels=[0],
            label_names=(),
            sample_rate=SR,
            slice_len=8,
            slicing="first",
            source="memory",
            files=["x"],
            skipped=[],
        )
    assert len(good) == 3 and good.num_channels == 1 and good.num_classes == 3
