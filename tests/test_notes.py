"""Tests for gan_jax.notes: NSynth folders, note folders, dispatch (embedded notes: test_synth.py).

Fixtures are tiny NSynth-layout and note folders written into tmp_path with soundfile.
The nsynth-gm test needs the shared data folder: set GAN_JAX_DATA to it (CI does);
otherwise it is skipped.
"""

import json
import logging
import os
import time

import numpy as np
import pytest
import soundfile as sf

from gan_jax import notes as N
from gan_jax.dataset import AudioDataset, DataError

SR = 16000
LOGGER = "gan_jax.notes"


def write_wav(path, audio, sr=SR):
    path.parent.mkdir(parents=True, exist_ok=True)
    # FLOAT keeps sample values exact, so crop/pad positions can be checked by value.
    sf.write(path, np.asarray(audio, dtype=np.float32), sr, subtype="FLOAT")
    return path


def ramp(n):
    """1/n, 2/n, ..., 1: every sample distinct and non-zero, so padding is visible."""
    return np.arange(1, n + 1, dtype=np.float32) / n


def make_nsynth(root, specs, write_json=True):
    """An NSynth folder from specs: dicts with note_str, pitch and optional source,
    json_rate (None: field absent), wav_rate, audio, wav (False: no wav file)."""
    entries = {}
    for spec in specs:
        name = spec["note_str"]
        entry = {"note_str": name, "pitch": spec["pitch"], "velocity": 100,
                 "instrument_source_str": spec.get("source", "acoustic")}
        if spec.get("json_rate", SR) is not None:
            entry["sample_rate"] = spec.get("json_rate", SR)
        entries[name] = entry
        if spec.get("wav", True):
            write_wav(root / "audio" / f"{name}.wav", spec.get("audio", ramp(100)), spec.get("wav_rate", SR))
    if write_json:
        root.mkdir(parents=True, exist_ok=True)
        (root / "examples.json").write_text(json.dumps(entries))
    return root


def note(name, pitch, **kwargs):
    return {"note_str": name, "pitch": pitch, **kwargs}


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


# --------------------------------------------------------------------------- crop_or_pad


def test_crop_or_pad_centres_with_extra_sample_left_and_crops_the_start():
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    np.testing.assert_array_equal(N.crop_or_pad(x, 6), [0, 0, 1, 2, 3, 0])  # 3 zeros: 2 left, 1 right
    np.testing.assert_array_equal(N.crop_or_pad(x, 5), [0, 1, 2, 3, 0])
    np.testing.assert_array_equal(N.crop_or_pad(np.arange(10.0), 4), [0, 1, 2, 3])
    two_channels = N.crop_or_pad(np.stack([x, -x], axis=1), 4)
    np.testing.assert_array_equal(two_channels, [[0, 0], [1, -1], [2, -2], [3, -3]])


def test_nsynth_clips_are_crop_or_padded_by_value(tmp_path):
    root = make_nsynth(tmp_path / "ns", [note("short-060-100", 60, audio=ramp(5)),
                                         note("long-061-100", 61, audio=ramp(20))])
    ds = N.load_nsynth(root, slice_len=8)
    by_name = dict(zip((os.path.basename(f) for f in ds.files), ds.clips))
    np.testing.assert_allclose(by_name["short-060-100.wav"][:, 0], np.r_[0, 0, ramp(5), 0])
    np.testing.assert_allclose(by_name["long-061-100.wav"][:, 0], ramp(20)[:8])


# --------------------------------------------------------------------------- NSynth


def test_nsynth_filters_sources_and_pitch_range(tmp_path, caplog):
    root = make_nsynth(tmp_path / "ns", [
        note("keyboard_acoustic_000-060-100", 60),
        note("keyboard_acoustic_000-024-100", 24),
        note("keyboard_acoustic_000-084-100", 84),
        note("keyboard_acoustic_000-090-100", 90),   # above the GANSynth range
        note("keyboard_acoustic_000-010-100", 10),   # below it
        note("organ_electronic_000-060-100", 60, source="electronic"),
        note("synth_lead_synthetic_000-061-100", 61, source="synthetic"),
    ])
    with caplog.at_level(logging.INFO, logger=LOGGER):
        ds = N.load_nsynth(root, slice_len=128)
    assert isinstance(ds, AudioDataset) and len(ds) == 3
    assert [os.path.basename(f) for f in ds.files] == [
        "keyboard_acoustic_000-024-100.wav", "keyboard_acoustic_000-060-100.wav", "keyboard_acoustic_000-084-100.wav"]
    assert ds.labels.dtype == np.int32 and ds.labels.tolist() == [0, 36, 60]
    assert ds.label_names == tuple(str(p) for p in range(24, 85)) and ds.num_classes == 61
    assert ds.slicing == "first" and ds.source == str(root) and ds.sample_rate == SR
    assert all(c.shape == (128, 1) for c in ds.clips)
    assert ds.skipped == [] and warnings_of(caplog) == []
    (info,) = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.INFO]
    assert "using 3 of 7" in info and "excluded 2 with an instrument source" in info
    assert "organ_electronic_000-060-100" in info and "2 with a pitch outside 24..84" in info

    wide = N.load_nsynth(root, slice_len=128, sources=("acoustic", "electronic"), pitch_min=0, pitch_max=127)
    assert len(wide) == 6 and wide.num_classes == 128
    assert len(N.load_nsynth(root, slice_len=128, sources=None)) == 5


def test_nsynth_skips_missing_wav_and_json_rate_mismatch_with_one_warning(tmp_path, caplog):
    root = make_nsynth(tmp_path / "ns", [
        note("good-060-100", 60),
        note("gone-061-100", 61, wav=False),
        note("liar-062-100", 62, json_rate=22050),   # metadata says 22.05 kHz, wav is 16 kHz
        note("odd-063-100", 63, json_rate=44100, wav_rate=SR),
    ])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        ds = N.load_nsynth(root, slice_len=64)
    assert [os.path.basename(f) for f in ds.files] == ["good-060-100.wav"]
    reasons = {os.path.basename(path): reason for path, reason in ds.skipped}
    assert reasons["gone-061-100.wav"] == "wav file missing"
    assert "sample_rate 22050" in reasons["liar-062-100.wav"] and "16000 Hz" in reasons["liar-062-100.wav"]
    (warning,) = warnings_of(caplog)
    assert "skipped 3 of 4" in warning and "gone-061-100" in warning and "liar-062-100" in warning


def test_nsynth_wav_at_other_rate_than_requested_is_resampled(tmp_path):
    # Metadata and wav agree on 8 kHz; asking for 16 kHz resamples, for 8 kHz reads as is.
    root = make_nsynth(tmp_path / "ns", [note("good-060-100", 60), note("slow-061-100", 61, json_rate=8000,
                                                                         wav_rate=8000)])
    both = N.load_nsynth(root, slice_len=64)
    assert len(both) == 2 and both.sample_rate == 16000
    only_slow = N.load_nsynth(root, slice_len=64, sample_rate=8000, pitch_min=61, pitch_max=61)
    assert len(only_slow) == 1 and only_slow.sample_rate == 8000


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", r"examples\.json: not valid JSON"),
        ("[1, 2]", r"examples\.json: expected an object keyed by note_str, got a JSON list"),
        ("{}", r"examples\.json: has no entries"),
        (json.dumps({"a-060-100": {"note_str": "a-060-100"}}), r"entry 'a-060-100' has no 'pitch'"),
        (json.dumps({"a-060-100": {"pitch": 60}}), r"entry 'a-060-100' has no 'note_str'"),
        (json.dumps({"a-060-100": [60]}), r"entry 'a-060-100' is not an object"),
        (json.dumps({"a-060-100": {"note_str": "a-060-100", "pitch": 60.5}}),
         r"'a-060-100' has a non-integer pitch 60.5"),
        (json.dumps({"a-060-100": {"note_str": "a-060-100", "pitch": "60"}}), r"non-integer pitch '60'"),
        (json.dumps({"a-200-100": {"note_str": "a-200-100", "pitch": 200}}),
         r"'a-200-100' has pitch 200, outside MIDI"),
        (json.dumps({"a-060-100": {"note_str": "a-060-100", "pitch": 60}}), r"'a-060-100' has no instrument_source"),
    ],
)
def test_nsynth_malformed_metadata_is_a_one_line_error(tmp_path, content, message):
    root = tmp_path / "ns"
    write_wav(root / "audio" / "a-060-100.wav", ramp(10))
    (root / "examples.json").write_text(content)
    with pytest.raises(DataError, match=message) as info:
        N.load_nsynth(root, slice_len=16)
    assert "\n" not in str(info.value) and str(root / "examples.json") in str(info.value)


def test_nsynth_missing_json_nothing_selected_and_nothing_usable(tmp_path):
    with pytest.raises(DataError, match=r"examples\.json: not found"):
        N.load_nsynth(tmp_path, slice_len=16)
    with pytest.raises(DataError, match=r"NSynth folder not found"):
        N.load_nsynth(tmp_path / "absent", slice_len=16)
    electronic = make_nsynth(tmp_path / "e", [note("organ-060-100", 60, source="electronic")])
    with pytest.raises(DataError, match=r"none of 1 entries passes the filters"):
        N.load_nsynth(electronic, slice_len=16)
    missing = make_nsynth(tmp_path / "m", [note("gone-060-100", 60, wav=False)])
    with pytest.raises(DataError, match=r"no usable notes.*gone-060-100: wav file missing"):
        N.load_nsynth(missing, slice_len=16)


# --------------------------------------------------------------------------- note folders


@pytest.mark.parametrize(
    "name, pitch",
    [
        ("piano_60.wav", 60),
        ("60.wav", 60),
        ("violin-060-100.wav", 60),
        ("guitar_acoustic_000-062-127.wav", 62),
        ("take3_072.wav", 72),
        ("rec_2023_60.flac", 60),
        ("C4.wav", 60),
        ("piano_F#3.wav", 54),
        ("Bb2.wav", 46),
        ("violin-Bb2-soft.wav", 46),
        ("c4_100.wav", 60),             # a note name beats a number (here the velocity)
        ("a0.wav", 21),
        ("G9.wav", 127),
        ("noise.wav", None),
        ("take3.wav", None),
        ("piano_60_64.wav", None),      # two numbers: ambiguous
        ("C4_D4.wav", None),
        ("piano_200.wav", None),
        ("A9.wav", None),                # 129 is not a MIDI pitch
    ],
)
def test_pitch_from_file_name(name, pitch):
    assert N.parse_pitch_from_name(f"some/folder/{name}") == pitch


def test_note_folder_loads_resamples_and_skips_with_one_warning(tmp_path, caplog):
    t = np.arange(22050) / 22050
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1) * 0.5
    write_wav(tmp_path / "piano_60.wav", ramp(800))
    write_wav(tmp_path / "sub" / "violin-Bb2-soft.wav", stereo, sr=22050)
    write_wav(tmp_path / "noise.wav", ramp(50))
    write_wav(tmp_path / "piano_100.wav", ramp(50))
    (tmp_path / "notes.txt").write_text("not audio")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        ds = N.load_note_folder(tmp_path, slice_len=1000)
    assert sorted(zip((os.path.basename(f) for f in ds.files), ds.labels.tolist())) == [
        ("piano_60.wav", 36), ("violin-Bb2-soft.wav", 22)]
    assert ds.num_classes == 61 and all(c.shape == (1000, 1) for c in ds.clips)
    clip = ds.clips[ds.files.index(str(tmp_path / "piano_60.wav"))][:, 0]
    np.testing.assert_allclose(clip, np.r_[np.zeros(100), ramp(800), np.zeros(100)])   # centred
    violin = ds.clips[ds.files.index(str(tmp_path / "sub" / "violin-Bb2-soft.wav"))][:, 0]
    assert 0.45 < np.abs(violin).max() < 0.55   # resampled 22.05 -> 16 kHz, stereo averaged to mono
    assert {name for name, _ in ds.skipped} == {"noise.wav", "piano_100.wav"}
    (warning,) = warnings_of(caplog)
    assert "skipped 2 of 4" in warning and "noise.wav: no pitch" in warning and "pitch 100 outside 24..84" in warning
    assert ds.ignored == [str(tmp_path / "notes.txt")]


def test_pitch_csv_takes_precedence_over_names(tmp_path, caplog):
    write_wav(tmp_path / "piano_60.wav", ramp(64))
    write_wav(tmp_path / "mystery.wav", ramp(64))
    write_wav(tmp_path / "C3.wav", ramp(64))      # not in the CSV: its name still counts
    (tmp_path / "pitches.csv").write_text("file,pitch\npiano_60.wav,72\nmystery.wav,C5\n\ngone.wav,61\n")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        ds = N.load_note_folder(tmp_path, slice_len=64)
    pitches = {os.path.basename(f): int(label) + 24 for f, label in zip(ds.files, ds.labels)}
    assert pitches == {"piano_60.wav": 72, "mystery.wav": 72, "C3.wav": 48}
    assert ds.skipped == [("gone.wav", "listed in the pitch CSV but not found")]
    assert len(warnings_of(caplog)) == 1

    # An explicit pitch_csv replaces the folder's pitches.csv.
    other = tmp_path.parent / "other.csv"
    other.write_text("pitch,file,comment\n30,piano_60.wav,low\n")
    ds = N.load_note_folder(tmp_path, slice_len=64, pitch_csv=other)
    pitches = {os.path.basename(f): int(label) + 24 for f, label in zip(ds.files, ds.labels)}
    assert pitches == {"piano_60.wav": 30, "C3.wav": 48}


@pytest.mark.parametrize(
    "content, message",
    [
        ("name,midi\na.wav,60\n", r"header with 'file' and 'pitch'"),
        ("file,pitch\na.wav,high\n", r"line 2 \(a.wav\): pitch 'high' is not a MIDI number"),
        ("file,pitch\na.wav,60\na.wav,61\n", r"line 3: a.wav is listed again"),
        ("file,pitch\na.wav\n", r"line 2 has 1 column"),
    ],
)
def test_malformed_pitch_csv_is_an_error(tmp_path, content, message):
    write_wav(tmp_path / "a.wav", ramp(16))
    (tmp_path / "pitches.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        N.load_note_folder(tmp_path, slice_len=16)


def test_note_folder_without_usable_notes_is_an_error(tmp_path):
    write_wav(tmp_path / "noise.wav", ramp(16))
    with pytest.raises(DataError, match=r"no usable notes.*noise.wav: no pitch"):
        N.load_note_folder(tmp_path, slice_len=16)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty: no audio files found"):
        N.load_note_folder(empty, slice_len=16)
    with pytest.raises(DataError, match=r"absent: note folder not found"):
        N.load_note_folder(tmp_path / "absent", slice_len=16)


# --------------------------------------------------------------------------- dispatch


def test_load_notes_dispatch(tmp_path):
    embedded = N.load_notes(None, slice_len=4000, n_per_pitch=1, pitch_min=60, pitch_max=63,
                            sources=("acoustic",), normalize=True)   # folder-only settings are ignored
    assert embedded.source == "embedded-notes" and len(embedded) == 4 and embedded.num_classes == 4
    assert len(N.load_notes("", slice_len=4000, n_per_pitch=1)) == 61

    ns = make_nsynth(tmp_path / "ns", [note("a-060-100", 60), note("b-061-100", 61, source="electronic")])
    assert len(N.load_notes(ns, slice_len=64, n_per_pitch=3)) == 1
    assert len(N.load_notes(ns / "examples.json", slice_len=64, sources=None)) == 2

    folder = tmp_path / "mine"
    write_wav(folder / "piano_C4.wav", ramp(64))
    ds = N.load_notes(folder, slice_len=64, normalize=True, seed=3)
    assert ds.labels.tolist() == [36] and np.abs(ds.clips[0]).max() == pytest.approx(1.0)
    with pytest.raises(TypeError, match="slicelen"):
        N.load_notes(None, slicelen=64)


def test_pitch_labels_and_batches():
    ds = N.embedded_notes(slice_len=2000, pitch_min=60, pitch_max=65, n_per_pitch=2)
    # Two notes per class and no label outside the 6 classes of MIDI 60..65.
    np.testing.assert_array_equal(np.bincount(ds.labels, minlength=8), [2] * 6 + [0, 0])
    assert ds.label_names == ("60", "61", "62", "63", "64", "65")
    audio, labels = next(ds.batches(seed=0, batch_shape=(2, 4)))
    assert audio.shape == (2, 4, 2000, 1) and labels.shape == (2, 4) and labels.dtype == np.int32


def test_bad_arguments_are_errors(tmp_path):
    with pytest.raises(DataError, match="pitch_min=70 is above pitch_max=60"):
        N.embedded_notes(pitch_min=70, pitch_max=60)
    with pytest.raises(DataError, match="pitch_max must be a MIDI pitch"):
        N.embedded_notes(pitch_max=128)
    with pytest.raises(DataError, match="n_per_pitch must be a positive integer"):
        N.embedded_notes(n_per_pitch=0)
    with pytest.raises(DataError, match="sources must be"):
        N.load_nsynth(make_nsynth(tmp_path / "ns", [note("a-060-100", 60)]), sources=("acoustc",))


# --------------------------------------------------------------------------- real data


def test_nsynth_gm_real_data(data_root):
    root = data_root / "nsynth-gm"
    if not (root / "examples.json").is_file():
        pytest.skip(f"{root}/examples.json not found")
    start = time.perf_counter()
    ds = N.load_notes(root)
    seconds = time.perf_counter() - start
    print(f"load_notes({root}): {len(ds)} notes in {seconds:.2f} s")
    assert len(ds) == 488 and ds.num_classes == 61 and ds.sample_rate == 16000
    np.testing.assert_array_equal(np.bincount(ds.labels, minlength=61), np.full(61, 8))
    assert all(c.shape == (64000, 1) for c in ds.clips) and ds.skipped == []
    peaks = np.array([np.abs(c).max() for c in ds.clips])
    assert np.all(peaks > 0.01) and np.all(peaks < 1.0)   # real notes, not normalised
    audio, labels = next(ds.batches(seed=0, batch_shape=(8,), shard=(1, 2)))
    assert audio.shape == (4, 64000, 1) and labels.shape == (4,) and np.all((labels >= 0) & (labels < 61))
