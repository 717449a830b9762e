"""Tests for gan_jax.data: folder loading, labels, bad input and load_dataset dispatch.

Audio fixtures are written into tmp_path with soundfile. The FSDD tests need the shared
data folder: set GAN_JAX_DATA to it (CI does); otherwise they are skipped.
"""

import logging
import math
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from gan_jax import data as D

SR = 16000


def write(path, audio, sr, **kwargs):
    """Write float audio ([T] or [T, C]) to `path`, creating folders; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(audio, dtype=np.float32), sr, **kwargs)
    return path


def sine(sr, seconds, freq=440.0, amp=0.5):
    t = np.arange(round(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def load(path, **kwargs):
    kwargs.setdefault("sample_rate", SR)
    kwargs.setdefault("slice_len", 4096)
    return D.load_folder(path, **kwargs)


def clip_of(ds, name):
    (i,) = [k for k, f in enumerate(ds.files) if os.path.basename(f) == name]
    return ds.clips[i]


# --------------------------------------------------------------------------- decoding


def test_import_and_load_without_librosa(tmp_path):
    # Model/step code imports this module; it must not drag librosa (and numba) in,
    # and plain wav decoding plus resampling must not need it either.
    write(tmp_path / "a.wav", sine(8000, 0.2), 8000)
    code = textwrap.dedent(
        f"""
        import sys
        import gan_jax.data as D
        assert "librosa" not in sys.modules, "import pulled in librosa"
        ds = D.load_folder({str(tmp_path)!r}, sample_rate=16000, slice_len=1000)
        assert len(ds) == 1
        assert "librosa" not in sys.modules, "decoding pulled in librosa"
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("seconds", [1.0, 0.3])
def test_resampling_lengths_and_pitch(tmp_path, seconds):
    rates = (8000, 22050, 44100, 16000)
    for sr in rates:
        write(tmp_path / f"tone_{sr}.wav", sine(sr, seconds, freq=440.0), sr, subtype="FLOAT")
    ds = load(tmp_path, slice_len=1024, slicing="random", normalize=False)
    assert len(ds) == len(rates) and ds.slicing == "random"
    for sr in rates:
        clip = clip_of(ds, f"tone_{sr}.wav")
        n_in = round(sr * seconds)
        assert clip.dtype == np.float32 and clip.shape == (math.ceil(n_in * SR / sr), 1)
        spectrum = np.abs(np.fft.rfft(clip[:, 0] * np.hanning(len(clip))))
        peak_hz = np.argmax(spectrum) * SR / len(clip)
        assert abs(peak_hz - 440.0) < 2 * SR / len(clip)
        # Amplitude survives resampling (away from the filter's edge transients).
        middle = clip[len(clip) // 4 : 3 * len(clip) // 4, 0]
        assert np.max(np.abs(middle)) == pytest.approx(0.5, abs=0.02)


def test_resample_matches_librosa():
    librosa = pytest.importorskip("librosa")
    x = np.random.default_rng(0).standard_normal((22050, 2)).astype(np.float32) * 0.1
    ours = D.resample(x, 22050, SR)
    theirs = librosa.resample(x, orig_sr=22050, target_sr=SR, res_type="soxr_hq", axis=0)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_channels_average_and_duplicate(tmp_path):
    n = 2000
    stereo = np.stack([np.full(n, 0.5), np.full(n, -0.1)], axis=1)
    write(tmp_path / "stereo.wav", stereo, SR, subtype="FLOAT")
    write(tmp_path / "mono.wav", np.full(n, 0.3), SR, subtype="FLOAT")

    mono = load(tmp_path, normalize=False, slice_len=n)
    assert mono.num_channels == 1
    np.testing.assert_allclose(clip_of(mono, "stereo.wav"), 0.2, atol=1e-6)  # (0.5 - 0.1) / 2

    both = load(tmp_path, normalize=False, slice_len=n, num_channels=2)
    assert both.num_channels == 2
    np.testing.assert_allclose(clip_of(both, "stereo.wav"), stereo, atol=1e-6)
    np.testing.assert_allclose(clip_of(both, "mono.wav"), 0.3, atol=1e-6)  # duplicated


def test_channel_mismatch_is_a_clear_error(tmp_path):
    write(tmp_path / "three.wav", np.full((1000, 3), 0.1), SR)
    with pytest.raises(D.DataError, match=r"three\.wav: has 3 channels, cannot make 2"):
        load(tmp_path, num_channels=2)


def test_first_slice_pads_short_and_truncates_long(tmp_path):
    short = np.linspace(-0.5, 0.5, 1000)
    long = np.linspace(-0.9, 0.9, 10000)
    write(tmp_path / "short.wav", short, SR, subtype="FLOAT")
    write(tmp_path / "long.wav", long, SR, subtype="FLOAT")
    ds = load(tmp_path, slice_len=4096, normalize=False)
    assert len(ds) == 2 and all(c.shape == (4096, 1) for c in ds.clips)
    clip = clip_of(ds, "short.wav")[:, 0]
    np.testing.assert_allclose(clip[:1000], short, atol=1e-6)
    assert np.all(clip[1000:] == 0)  # padded at the end, never dropped
    np.testing.assert_allclose(clip_of(ds, "long.wav")[:, 0], long[:4096], atol=1e-6)
    assert clip_of(ds, "long.wav").base is None  # truncation copies, so the long file can be freed


def test_random_slicing_windows(tmp_path):
    ramp = np.linspace(-0.9, 0.9, 3 * SR)  # every sample value is unique: windows are locatable
    write(tmp_path / "long.wav", ramp, SR, subtype="FLOAT")
    write(tmp_path / "short.wav", np.full(500, 0.25), SR, subtype="FLOAT")
    ds = load(tmp_path, slice_len=1000, slicing="random", normalize=False)
    assert len(ds) == 2
    assert clip_of(ds, "short.wav").shape == (1000, 1)  # padded, not dropped

    audio, _ = next(ds.batches(seed=3, batch_shape=(40,)))
    offsets = []
    for row in audio[..., 0]:
        if np.isclose(row[0], 0.25):
            assert np.allclose(row[:500], 0.25) and np.all(row[500:] == 0)
            continue
        off = int(np.argmin(np.abs(ramp - row[0])))
        np.testing.assert_allclose(row, ramp[off : off + 1000], atol=1e-6)
        offsets.append(off)
    assert len(offsets) == 20 and len(set(offsets)) > 15  # a fresh window per draw
    again, _ = next(ds.batches(seed=3, batch_shape=(40,)))
    np.testing.assert_array_equal(audio, again)


def test_peak_normalisation(tmp_path):
    write(tmp_path / "quiet.wav", sine(SR, 0.2, amp=0.25), SR, subtype="FLOAT")
    write(tmp_path / "silent.wav", np.zeros(3000), SR)
    ds = load(tmp_path, slice_len=2000)
    assert np.max(np.abs(clip_of(ds, "quiet.wav"))) == pytest.approx(1.0, abs=1e-5)
    silent = clip_of(ds, "silent.wav")
    assert np.all(np.isfinite(silent)) and np.all(silent == 0)  # guarded, and kept
    raw = load(tmp_path, slice_len=2000, normalize=False)
    assert np.max(np.abs(clip_of(raw, "quiet.wav"))) == pytest.approx(0.25, abs=1e-3)


@pytest.mark.parametrize("fmt", ["flac", "ogg", "mp3"])
def test_other_formats(tmp_path, fmt):
    try:
        write(tmp_path / f"tone.{fmt}", sine(22050, 0.5), 22050, format=fmt.upper())
    except Exception as exc:  # noqa: BLE001 - libsndfile builds without this encoder
        pytest.skip(f"soundfile cannot write {fmt}: {exc}")
    ds = load(tmp_path, slice_len=SR // 2, normalize=False)
    assert len(ds) == 1 and not ds.skipped
    clip = ds.clips[0][:, 0]
    assert np.max(np.abs(clip)) == pytest.approx(0.5, abs=0.05)  # lossy codecs wobble a little


# --------------------------------------------------------------------------- labels and splits


@pytest.mark.parametrize(
    "name, label",
    [
        ("Zero_abc.wav", 0),
        ("NINE_0a1b_nohash_2.wav", 9),
        ("seven/x.wav", 7),
        ("Eight/y.flac", 8),
        ("7_jackson_12.wav", 7),
        ("0_george_0.wav", 0),
        ("kick_01.wav", -1),
        ("sevens/x.wav", -1),
        ("twelve_x.wav", -1),
    ],
)
def test_parse_label(name, label):
    assert D.parse_label(os.path.join("/data", name)) == label


def test_folder_labels(tmp_path):
    for name in ("Zero_abc.wav", "seven/x.wav", "7_jackson_12.wav", "misc/noise.wav"):
        write(tmp_path / name, sine(SR, 0.1), SR)
    ds = load(tmp_path)
    assert ds.label_names == D.LABEL_NAMES_DIGITS
    got = {os.path.relpath(f, tmp_path): int(lab) for f, lab in zip(ds.files, ds.labels)}
    assert got == {
        "Zero_abc.wav": 0,
        os.path.join("seven", "x.wav"): 7,
        "7_jackson_12.wav": 7,
        os.path.join("misc", "noise.wav"): -1,
    }
    assert ds.labels.dtype == np.int32

    unlabelled = load(tmp_path / "misc")
    assert unlabelled.label_names == () and list(unlabelled.labels) == [-1]


def test_fsdd_split(tmp_path):
    for digit in (3, 4):
        for index in range(7):
            write(tmp_path / f"{digit}_lucas_{index}.wav", sine(8000, 0.05), 8000)
    test = load(tmp_path, split="test")
    train = load(tmp_path, split="train")
    assert len(load(tmp_path)) == 14 and len(test) == 10 and len(train) == 4
    assert all(D.parse_fsdd_name(f)[2] < 5 for f in test.files)
    assert all(D.parse_fsdd_name(f)[2] >= 5 for f in train.files)
    assert sorted(set(test.labels.tolist())) == [3, 4]


def test_split_needs_fsdd_names(tmp_path):
    write(tmp_path / "Zero_abc.wav", sine(SR, 0.1), SR)
    with pytest.raises(D.DataError, match="FSDD"):
        load(tmp_path, split="test")
    assert len(load(tmp_path, split="train")) == 1  # no FSDD index: not in the test set
    with pytest.raises(D.DataError, match="split must be"):
        load(tmp_path, split="valid")


# --------------------------------------------------------------------------- bad input


def one_line(exc_info):
    message = str(exc_info.value)
    assert "\n" not in message and isinstance(exc_info.value, ValueError)
    return message


def write_bad_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "garbage.wav").write_bytes(np.random.default_rng(0).bytes(3000))
    (folder / "empty.wav").write_bytes(b"")
    (folder / "text.wav").write_text("this is not audio\n")
    write(folder / "noframes.wav", np.zeros((0, 1)), SR)
    nan = np.zeros(1000, dtype=np.float32)
    nan[10] = np.nan
    write(folder / "nan.wav", nan, SR, subtype="FLOAT")


def test_one_bad_file_among_good_is_skipped(tmp_path, caplog):
    write(tmp_path / "good1.wav", sine(SR, 0.1), SR)
    write(tmp_path / "sub" / "good2.wav", sine(SR, 0.1), SR)
    write_bad_files(tmp_path / "bad")
    (tmp_path / "notes.txt").write_text("hello")
    write(tmp_path / "sound.aiff", sine(SR, 0.1), SR, format="AIFF")
    (tmp_path / "._good1.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS fork: hidden

    with caplog.at_level(logging.INFO, logger="gan_jax.data"):
        ds = load(tmp_path)
    assert len(ds) == 2
    reasons = {os.path.basename(f): r for f, r in ds.skipped}
    assert set(reasons) == {"garbage.wav", "empty.wav", "text.wav", "noframes.wav", "nan.wav"}
    assert "cannot decode" in reasons["garbage.wav"] and "0 bytes" in reasons["empty.wav"]
    assert "no samples" in reasons["noframes.wav"] and "NaN" in reasons["nan.wav"]
    assert sorted(os.path.basename(f) for f in ds.ignored) == ["notes.txt", "sound.aiff"]

    records = [r for r in caplog.records if r.name == "gan_jax.data"]
    skip_warnings = [r for r in records if r.levelno == logging.WARNING and "skipped" in r.getMessage()]
    assert len(skip_warnings) == 1  # one warning with the count, not one per file
    assert "skipped 5 of 7" in skip_warnings[0].getMessage()
    assert any("sound.aiff" in r.getMessage() and r.levelno == logging.WARNING for r in records)
    assert any("notes.txt" in r.getMessage() and r.levelno == logging.INFO for r in records)


def test_broken_symlink_is_skipped(tmp_path):
    write(tmp_path / "good.wav", sine(SR, 0.1), SR)
    os.symlink(tmp_path / "missing.wav", tmp_path / "broken.wav")
    ds = load(tmp_path)
    assert len(ds) == 1 and [os.path.basename(f) for f, _ in ds.skipped] == ["broken.wav"]
    assert "cannot open" in ds.skipped[0][1]


def test_only_bad_files_raise(tmp_path):
    write_bad_files(tmp_path)
    with pytest.raises(D.DataError) as info:
        load(tmp_path)
    message = one_line(info)
    assert str(tmp_path) in message and "no usable audio" in message and "5 audio file" in message


@pytest.mark.parametrize("name", ["garbage.wav", "empty.wav", "text.wav", "noframes.wav"])
def test_single_bad_file_names_file_and_problem(tmp_path, name):
    write_bad_files(tmp_path / "all")
    (tmp_path / "one").mkdir()
    os.replace(tmp_path / "all" / name, tmp_path / "one" / name)
    with pytest.raises(D.DataError) as info:
        load(tmp_path / "one")
    assert name in one_line(info)
    with pytest.raises(D.DataError) as info:
        D.load_audio(tmp_path / "one" / name, sample_rate=SR)
    assert name in one_line(info)


def test_missing_empty_and_non_audio_folders(tmp_path):
    with pytest.raises(D.DataError, match="not found") as info:
        load(tmp_path / "nope")
    one_line(info)

    (tmp_path / "empty").mkdir()
    with pytest.raises(D.DataError, match="no audio files") as info:
        load(tmp_path / "empty")
    one_line(info)

    write(tmp_path / "other" / "x.aiff", sine(SR, 0.1), SR, format="AIFF")
    (tmp_path / "other" / "readme.txt").write_text("hi")
    with pytest.raises(D.DataError, match=r"no audio files .*ignored 2 other file") as info:
        load(tmp_path / "other")
    one_line(info)

    write(tmp_path / "f.wav", sine(SR, 0.1), SR)
    with pytest.raises(D.DataError, match="not a folder"):
        load(tmp_path / "f.wav")


def test_bad_arguments(tmp_path):
    write(tmp_path / "a.wav", sine(SR, 0.1), SR)
    for kwargs in ({"slicing": "middle"}, {"sample_rate": 0}, {"slice_len": -1}, {"num_channels": 0}):
        with pytest.raises(D.DataError):
            load(tmp_path, **kwargs)


# --------------------------------------------------------------------------- dispatch


def test_load_dataset_dispatch(tmp_path):
    for path in (None, ""):
        ds = D.load_dataset(path, slice_len=1024, n_per_class=2, seed=3)
        assert ds.source == "embedded" and len(ds) == 20
    test = D.load_dataset(None, slice_len=1024, n_per_class=2, seed=3, split="test")
    train = D.load_dataset(None, slice_len=1024, n_per_class=2, seed=3, split="train")
    assert not any(np.array_equal(a, b) for a, b in zip(test.clips, train.clips))
    write(tmp_path / "Zero_a.wav", sine(SR, 0.1), SR)
    folder = D.load_dataset(str(tmp_path), slice_len=1024, seed=3, n_per_class=2)
    assert folder.source == str(tmp_path) and list(folder.labels) == [0]


# --------------------------------------------------------------------------- real data (FSDD)


@pytest.fixture(scope="module")
def fsdd_dir():
    root = os.environ.get("GAN_JAX_DATA")
    if not root:
        pytest.skip("GAN_JAX_DATA is not set (point it at the shared data folder to run the FSDD tests)")
    folder = os.path.join(root, "fsdd", "recordings")
    if not os.path.isdir(folder):
        pytest.fail(f"GAN_JAX_DATA={root} has no fsdd/recordings folder")
    return folder


@pytest.fixture(scope="module")
def fsdd(fsdd_dir):
    start = time.perf_counter()
    ds = D.load_folder(fsdd_dir, sample_rate=SR, slice_len=16384)
    print(f"FSDD: {len(ds)} files decoded and resampled 8k->16k in {time.perf_counter() - start:.2f} s")
    return ds


def test_fsdd_all(fsdd):
    assert len(fsdd) == 3000 and not fsdd.skipped and fsdd.label_names == D.LABEL_NAMES_DIGITS
    np.testing.assert_array_equal(np.bincount(fsdd.labels, minlength=10), [300] * 10)
    for f, label in zip(fsdd.files[::97], fsdd.labels[::97]):
        assert int(os.path.basename(f)[0]) == label
    assert all(c.shape == (16384, 1) for c in fsdd.clips)
    peaks = np.array([np.max(np.abs(c)) for c in fsdd.clips])
    np.testing.assert_allclose(peaks, 1.0, atol=1e-5)  # peak-normalised, none silent
    audio, labels = next(fsdd.batches(seed=0, batch_shape=(2, 32), shard=(1, 2)))
    assert audio.shape == (2, 16, 16384, 1) and labels.shape == (2, 16)


def test_fsdd_split_counts(fsdd_dir):
    start = time.perf_counter()
    test = D.load_folder(fsdd_dir, sample_rate=8000, slice_len=8192, split="test")
    train = D.load_folder(fsdd_dir, sample_rate=8000, slice_len=8192, split="train", slicing="random")
    print(f"FSDD test+train at 8 kHz (no resampling) in {time.perf_counter() - start:.2f} s")
    # 6 speakers x 10 digits x recordings 0-4: the "first 10%" of FSDD's README.
    assert len(test) == 300 and len(train) == 2700
    np.testing.assert_array_equal(np.bincount(test.labels, minlength=10), [30] * 10)
    np.testing.assert_array_equal(np.bincount(train.labels, minlength=10), [270] * 10)
    assert not set(test.files) & set(train.files)
    # Random slicing keeps whole recordings (padded up to the window when shorter).
    assert max(c.shape[0] for c in train.clips) > 8192 and min(c.shape[0] for c in train.clips) == 8192
