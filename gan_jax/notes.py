"""Pitched-note datasets for GANSynth: NSynth folders, users' own notes, an embedded set.

Every loader returns a `gan_jax.dataset.AudioDataset` of mono float32 notes of exactly
``slice_len`` samples (``slicing="first"``), labelled with the pitch class
``pitch - pitch_min`` (int32) and with ``label_names`` = the MIDI pitches
``str(pitch_min) .. str(pitch_max)`` (all classes, present or not), which is the
conditioning GANSynth uses (reference: 61 classes, MIDI 24..84).

* `load_nsynth(path)` reads the NSynth "json/wav" layout (``examples.json`` plus
  ``audio/<note_str>.wav``) and applies the GANSynth subset filters (acoustic
  instruments, MIDI 24..84). NSynth audio is used as stored (16 kHz, the paper's), or
  resampled when another ``sample_rate`` is asked for (the 8 kHz quick preset).
* `load_note_folder(path)` reads any folder of audio files whose pitches come from
  the file names or from a ``file,pitch`` CSV; audio is resampled as needed.
* `load_notes(path)` picks one of the two, or the embedded note set
  (`gan_jax.synth.embedded_notes`) when no path is given.

Notes are fitted to ``slice_len`` with `crop_or_pad`, the current GANSynth pipeline's
``crop_or_pad(64000)``: a short note is zero-padded on both sides (centred, the odd
extra sample on the left), a long note keeps its first ``slice_len`` samples.

Logging goes to the ``gan_jax.notes`` logger: one INFO line for notes excluded by the
filters, one WARNING naming examples for notes that had to be skipped. Errors are
`gan_jax.dataset.DataError` (a ``ValueError``) with a one-line message naming the file or
entry.
"""


from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence

import numpy as np

from gan_jax import files
from gan_jax.data import find_audio_files, fit_length, load_audio, peak_normalize
from gan_jax.dataset import (
    AudioDataset,
    DataError,
    check_pitch_range,
    check_sizes,
    pitched_dataset,
    progress,
    report_skipped,
    summarise,
)
from gan_jax.synth import embedded_notes

logger = logging.getLogger(__name__)

NSYNTH_SAMPLE_RATE = 16000
NSYNTH_SOURCES = ("acoustic", "electronic", "synthetic")  # index = instrument_source
PITCH_CSV_NAME = "pitches.csv"
NOTE_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}

# File-name pitch patterns, tried on the name without its extension (see load_note_folder).
_NSYNTH_SUFFIX = re.compile(r"-(\d{3})-(\d{3})$")
_TOKEN_SPLIT = re.compile(r"[\s_.,()\[\]{}-]+")
_NOTE_TOKEN = re.compile(r"^([A-Ga-g])([#b\u266f\u266d]?)([0-9])$")
_MIDI_TOKEN = re.compile(r"^[0-9]{1,3}$")


# --------------------------------------------------------------------------- shared


def crop_or_pad(audio: np.ndarray, length: int) -> np.ndarray:
    """[T, C] (or [T]) -> exactly `length` samples, like GANSynth's ``crop_or_pad``.

    Short input is zero-padded on both sides so that it sits in the centre; when the
    padding is odd the extra zero goes on the left. Long input keeps its first `length`
    samples (not a centre crop: a note's onset must survive).
    """
    audio = np.asarray(audio)
    missing = int(length) - audio.shape[0]
    if missing > 0:
        left = (missing + 1) // 2
        widths = [(left, missing - left)] + [(0, 0)] * (audio.ndim - 1)
        return np.pad(audio, widths)
    return fit_length(audio, int(length)) if audio.ndim == 2 else audio[: int(length)].copy()


def _finish_clip(audio: np.ndarray, slice_len: int, normalize: bool) -> np.ndarray:
    clip = crop_or_pad(audio, slice_len)
    # Normalise after cropping, so that the peak of what is trained on is 1.
    return peak_normalize(clip) if normalize else clip


# --------------------------------------------------------------------------- NSynth


def load_nsynth(
    path: str | os.PathLike,
    *,
    sample_rate: int = NSYNTH_SAMPLE_RATE,
    slice_len: int = 64000,
    sources: Sequence[str] | str | None = ("acoustic",),
    pitch_min: int = 24,
    pitch_max: int = 84,
    normalize: bool = False,
) -> AudioDataset:
    """Notes of an NSynth "json/wav" folder (``examples.json`` + ``audio/<note_str>.wav``).

    path: the folder holding ``examples.json`` (or that file itself). sources: the
    ``instrument_source_str`` values to keep (GANSynth: acoustic only; None keeps all);
    entries without it fall back to the numeric ``instrument_source`` (0 acoustic,
    1 electronic, 2 synthetic). pitch_min..pitch_max: the pitches kept (GANSynth: 24..84,
    61 classes). Labels are ``pitch - pitch_min``, ``label_names`` every pitch in the
    range, ``files`` the wav paths, in ``note_str`` order. Each wav is averaged to mono,
    fitted with `crop_or_pad` and, with normalize, peak-normalised after that.

    What happens to each kind of problem (checked in this order):

    * DataError (one line, nothing loaded): ``examples.json`` missing, not JSON, or not
      an object; an entry that is not an object or lacks ``note_str`` / ``pitch``; a
      ``pitch`` that is not an integer or not a MIDI pitch 0..127; an entry without
      source fields while ``sources`` filters. Such metadata is broken as a whole (or is
      not NSynth), so guessing around it would train on wrong labels.
    * Excluded, counted in one INFO line: entries whose source is not in ``sources`` or
      whose pitch is outside pitch_min..pitch_max -- the filters working as intended.
    * Skipped, listed in ``AudioDataset.skipped`` and one WARNING naming the first few
      entries: the wav is missing (a partial download or extraction), unreadable, or at
      a different rate than the entry's own ``sample_rate`` (that one entry is
      inconsistent; the rest of the set is still good).
    * A wav whose rate agrees with its metadata but differs from ``sample_rate`` is
      resampled (the GANSynth pipeline never does: it asks for the stored 16 kHz).
    * DataError when every selected entry was skipped, or none passes the filters.
    """
    root, json_path = _nsynth_paths(path)
    check_sizes(sample_rate, slice_len, 1)
    pitch_min, pitch_max = check_pitch_range(pitch_min, pitch_max)
    wanted = _check_sources(sources)
    entries = _read_examples(json_path)
    selected = _select_entries(json_path, entries, wanted, pitch_min, pitch_max)

    clips, pitches, files, skipped = [], [], [], []
    for note_str, pitch, meta in progress(selected, root):
        wav = os.path.join(root, "audio", note_str + ".wav")
        try:
            audio = _read_nsynth_wav(wav, meta, sample_rate, note_str)
        except _SkipEntry as exc:
            skipped.append((wav, str(exc)))
            continue
        clips.append(_finish_clip(audio, slice_len, normalize))
        pitches.append(pitch)
        files.append(wav)

    named = [(os.path.basename(f)[: -len(".wav")], reason) for f, reason in skipped]
    report_skipped(logger, json_path, named, len(selected), "selected NSynth entries", usable=bool(clips),
                   noun="notes")
    return pitched_dataset(root, clips, pitches, files, pitch_min=pitch_min, pitch_max=pitch_max,
                           sample_rate=sample_rate, slice_len=slice_len, skipped=skipped)


class _SkipEntry(Exception):
    """One NSynth entry cannot be used; the message is the reason."""


def _nsynth_paths(path) -> tuple[str, str]:
    root = os.fspath(files.user_path(path))
    if os.path.basename(root) == "examples.json":
        root = os.path.dirname(root) or "."
    json_path = os.path.join(root, "examples.json")
    if not os.path.isdir(root):
        raise DataError(f"{root}: NSynth folder not found")
    if not os.path.isfile(json_path):
        raise DataError(f"{json_path}: not found (an NSynth folder holds examples.json and audio/)")
    return root, json_path


def _check_sources(sources) -> frozenset[str] | None:
    if sources is None:
        return None
    if isinstance(sources, str):
        sources = (sources,)
    unknown = sorted(set(sources) - set(NSYNTH_SOURCES))
    if unknown or not sources:
        raise DataError(f"sources must be a non-empty subset of {NSYNTH_SOURCES} or None, got {tuple(sources)!r}")
    return frozenset(sources)


def _read_examples(json_path: str) -> dict:
    try:
        with open(json_path, encoding="utf-8") as f:
            entries = json.load(f)
    except json.JSONDecodeError as exc:
        raise DataError(f"{json_path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{json_path}: cannot read ({exc})") from None
    if not isinstance(entries, dict):
        raise DataError(f"{json_path}: expected an object keyed by note_str, got a JSON {type(entries).__name__}")
    if not entries:
        raise DataError(f"{json_path}: has no entries")
    return entries


def _entry_pitch(json_path: str, key: str, entry) -> tuple[str, int]:
    """(note_str, pitch) of one entry, or DataError naming it."""
    if not isinstance(entry, dict):
        raise DataError(f"{json_path}: entry {key!r} is not an object")
    for field in ("note_str", "pitch"):
        if field not in entry:
            raise DataError(f"{json_path}: entry {key!r} has no {field!r}")
    note_str, pitch = entry["note_str"], entry["pitch"]
    if not isinstance(note_str, str) or not note_str or os.sep in note_str:
        raise DataError(f"{json_path}: entry {key!r} has an invalid note_str {note_str!r}")
    if isinstance(pitch, bool) or not isinstance(pitch, int):
        raise DataError(f"{json_path}: entry {key!r} has a non-integer pitch {pitch!r}")
    if not 0 <= pitch <= 127:
        raise DataError(f"{json_path}: entry {key!r} has pitch {pitch}, outside MIDI 0..127")
    return note_str, pitch


def _entry_source(json_path: str, key: str, entry: dict) -> str:
    source = entry.get("instrument_source_str")
    if isinstance(source, str):
        return source
    index = entry.get("instrument_source")
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(NSYNTH_SOURCES):
        return NSYNTH_SOURCES[index]
    raise DataError(f"{json_path}: entry {key!r} has no instrument_source_str or instrument_source to filter on")


def _select_entries(json_path, entries: dict, wanted, pitch_min: int, pitch_max: int):
    """[(note_str, pitch, entry)] passing the filters, sorted by note_str; logs what was excluded."""
    selected, other_source, out_of_range = [], [], []
    # Validate every entry first, so that broken metadata fails before minutes of decoding.
    for key, entry in entries.items():
        note_str, pitch = _entry_pitch(json_path, key, entry)
        if wanted is not None and _entry_source(json_path, key, entry) not in wanted:
            other_source.append(note_str)
        elif not pitch_min <= pitch <= pitch_max:
            out_of_range.append(note_str)
        else:
            selected.append((note_str, pitch, entry))
    if other_source or out_of_range:
        logger.info(
            "%s: using %d of %d entries; excluded %d with an instrument source other than %s (%s) and %d "
            "with a pitch outside %d..%d (%s)",
            json_path, len(selected), len(entries), len(other_source), "/".join(sorted(wanted or NSYNTH_SOURCES)),
            summarise(other_source) or "none", len(out_of_range), pitch_min, pitch_max,
            summarise(out_of_range) or "none",
        )
    if not selected:
        raise DataError(
            f"{json_path}: none of {len(entries)} entries passes the filters (instrument source in "
            f"{sorted(wanted) if wanted else 'any'}, pitch {pitch_min}..{pitch_max})"
        )
    return sorted(selected, key=lambda item: item[0])


def _read_nsynth_wav(wav: str, meta: dict, sample_rate: int, note_str: str) -> np.ndarray:
    """Mono float32 [T, 1] at the file's rate; _SkipEntry or DataError as documented in load_nsynth."""
    import soundfile

    if not os.path.isfile(wav):
        raise _SkipEntry("wav file missing")
    try:
        rate = int(soundfile.info(wav).samplerate)
    except Exception as exc:  # noqa: BLE001 - libsndfile raises assorted errors for unparsable input
        raise _SkipEntry(f"cannot read the wav ({' '.join(str(exc).split())})") from None
    declared = meta.get("sample_rate")
    if declared is not None and declared != rate:
        raise _SkipEntry(f"examples.json says sample_rate {declared!r} but the wav is {rate} Hz")
    try:
        # At the stored rate load_audio only decodes and averages to mono.
        return load_audio(wav, sample_rate=sample_rate, num_channels=1)
    except DataError as exc:
        raise _SkipEntry(str(exc).removeprefix(f"{wav}: ")) from None


# --------------------------------------------------------------------------- note folders


def parse_note_name(token: str) -> int | None:
    """MIDI pitch of a note name such as ``C4`` (60), ``F#3`` (54), ``Bb2`` (46), else None.

    Letter A-G (any case), an optional accidental (``#``/``♯`` sharp, ``b``/``♭`` flat)
    and a one-digit octave 0-9, with C4 = 60 (scientific pitch notation). Cb0 (-1) and
    names above G9 (127) are not MIDI pitches and give None.
    """
    match = _NOTE_TOKEN.match(token)
    if match is None:
        return None
    letter, accidental, octave = match.groups()
    shift = {"#": 1, "\u266f": 1, "b": -1, "\u266d": -1}.get(accidental, 0)
    pitch = 12 * (int(octave) + 1) + NOTE_NAMES[letter.lower()] + shift
    return pitch if 0 <= pitch <= 127 else None


def parse_pitch_from_name(path: str | os.PathLike) -> int | None:
    """MIDI pitch encoded in a file name, or None (none found, or ambiguous).

    Rules, applied to the name without folder and extension, first match wins:

    1. NSynth-like suffix ``-PPP-VVV`` (regex ``-(\\d{3})-(\\d{3})$``): pitch PPP,
       e.g. ``violin-060-100.wav`` or ``guitar_acoustic_000-060-100.wav`` -> 60.
    2. Otherwise the name is split into tokens at whitespace and ``_ - . , ( ) [ ] { }``.
       A note-name token (regex ``^[A-Ga-g][#b♯♭]?[0-9]$``, C4 = 60): ``piano_C4.wav``,
       ``F#3.wav``, ``violin-Bb2-soft.wav``. Note names win over numbers because names
       like ``C4_100.wav`` (note, velocity) are common.
    3. Otherwise a MIDI-number token: 1-3 digits with a value of 0..127 (regex
       ``^[0-9]{1,3}$``): ``piano_60.wav``, ``60.wav``, ``take3_072.wav``.

    Within rules 2 and 3 every matching token must give the same pitch; two different
    ones (``piano_60_64.wav``, ``C4_D4.wav``) are ambiguous and give None. Longer digit
    runs (``rec_2023_60``) and mixed tokens (``take3``) are not pitch tokens.
    """
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    suffix = _NSYNTH_SUFFIX.search(stem)
    if suffix is not None:
        pitch = int(suffix.group(1))
        return pitch if pitch <= 127 else None
    tokens = [t for t in _TOKEN_SPLIT.split(stem) if t]
    for parse in (parse_note_name, _parse_midi_token):
        found = {p for p in map(parse, tokens) if p is not None}
        if found:
            return found.pop() if len(found) == 1 else None
    return None


def _parse_midi_token(token: str) -> int | None:
    if _MIDI_TOKEN.match(token) is None:
        return None
    value = int(token)
    return value if value <= 127 else None


def _parse_pitch_value(text: str) -> int | None:
    """A CSV pitch cell: a MIDI number 0..127 or a note name."""
    text = text.strip()
    if re.fullmatch(r"[0-9]{1,3}", text):
        return int(text) if int(text) <= 127 else None
    return parse_note_name(text)


def read_pitch_csv(csv_path: str | os.PathLike, root: str | os.PathLike) -> dict[str, int]:
    """{normalised absolute file path: pitch} from a CSV with a ``file,pitch`` header.

    ``file`` is relative to `root` (the note folder); ``pitch`` is a MIDI number 0..127 or
    a note name (``C4`` = 60). Other columns are ignored. A missing header column, an
    unparsable pitch, or a file listed twice with different pitches is a DataError naming
    the CSV line, since a hand-written table with errors should be fixed, not guessed.
    """
    csv_path, root = os.fspath(csv_path), os.fspath(root)
    if not os.path.isfile(csv_path):
        raise DataError(f"{csv_path}: pitch CSV not found")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{csv_path}: cannot read ({exc})") from None
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "file" not in header or "pitch" not in header:
        raise DataError(f"{csv_path}: the first line must be a header with 'file' and 'pitch' columns, got {header}")
    file_col, pitch_col = header.index("file"), header.index("pitch")
    table: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines are harmless
        if len(row) <= max(file_col, pitch_col):
            raise DataError(f"{csv_path}: line {line} has {len(row)} column(s), expected file and pitch")
        name, cell = row[file_col].strip(), row[pitch_col]
        pitch = _parse_pitch_value(cell)
        if pitch is None:
            raise DataError(f"{csv_path}: line {line} ({name}): pitch {cell.strip()!r} is not a MIDI number 0..127 "
                            "or a note name like C4")
        key = os.path.normpath(os.path.join(root, name))
        if table.get(key, pitch) != pitch:
            raise DataError(f"{csv_path}: line {line}: {name} is listed again with a different pitch")
        table[key] = pitch
    return table


def load_note_folder(
    path: str | os.PathLike,
    *,
    sample_rate: int = 16000,
    slice_len: int = 64000,
    pitch_min: int = 24,
    pitch_max: int = 84,
    normalize: bool = False,
    pitch_csv: str | os.PathLike | None = None,
) -> AudioDataset:
    """Pitched notes from a folder of audio files (searched recursively, like `load_folder`).

    Each file's pitch comes from, in order of precedence: the pitch CSV (`pitch_csv`, or
    ``pitches.csv`` in the folder when `pitch_csv` is None; see `read_pitch_csv`), then
    the file name (see `parse_pitch_from_name` for the exact rules). Files are decoded
    with `gan_jax.data.load_audio` (averaged to mono, resampled to `sample_rate`),
    fitted with `crop_or_pad` and, with normalize, peak-normalised after that.

    Files without a parsable pitch, with a pitch outside pitch_min..pitch_max, or that
    cannot be decoded are skipped: listed in ``AudioDataset.skipped`` with one WARNING
    naming the first few. CSV rows naming files that do not exist are reported in the
    same way. DataError when the folder is missing, the CSV is malformed, or no file is
    usable.
    """
    root = os.fspath(path)
    if not os.path.isdir(root):
        raise DataError(f"{root}: note folder not found" if not os.path.exists(root) else f"{root}: not a folder")
    check_sizes(sample_rate, slice_len, 1)
    pitch_min, pitch_max = check_pitch_range(pitch_min, pitch_max)
    files, ignored = find_audio_files(root)
    table, csv_used = _pitch_table(root, pitch_csv)
    if not files:
        raise DataError(f"{root}: no audio files found")

    present = {os.path.normpath(f) for f in files}
    skipped = [(os.path.relpath(f, root), "listed in the pitch CSV but not found") for f in table if f not in present]
    clips, pitches, kept = [], [], []
    for file in progress(files, root):
        rel = os.path.relpath(file, root)
        pitch = table.get(os.path.normpath(file))
        if pitch is None:
            pitch = parse_pitch_from_name(file)
        reason = _pitch_problem(pitch, pitch_min, pitch_max, csv_used)
        if reason is None:
            try:
                audio = load_audio(file, sample_rate=sample_rate, num_channels=1)
            except DataError as exc:
                reason = str(exc).removeprefix(f"{file}: ")
        if reason is not None:
            skipped.append((rel, reason))
            continue
        clips.append(_finish_clip(audio, slice_len, normalize))
        pitches.append(pitch)
        kept.append(file)

    if csv_used:
        logger.info("%s: pitches from %s for %d file(s)", root, csv_used, len(table))
    report_skipped(logger, root, skipped, len(files), "note file(s)", usable=bool(clips), noun="notes",
                   hint=f"; name files like piano_60.wav / C4.wav or add a {PITCH_CSV_NAME} (file,pitch)")
    return pitched_dataset(root, clips, pitches, kept, pitch_min=pitch_min, pitch_max=pitch_max,
                           sample_rate=sample_rate, slice_len=slice_len, skipped=skipped, ignored=ignored)


def _pitch_table(root: str, pitch_csv) -> tuple[dict[str, int], str | None]:
    if pitch_csv is not None:
        return read_pitch_csv(pitch_csv, root), os.fspath(pitch_csv)
    default = os.path.join(root, PITCH_CSV_NAME)
    if os.path.isfile(default):
        return read_pitch_csv(default, root), default
    return {}, None


def _pitch_problem(pitch: int | None, pitch_min: int, pitch_max: int, csv_used: str | None) -> str | None:
    if pitch is None:
        where = f" and not listed in {os.path.basename(csv_used)}" if csv_used else ""
        return f"no pitch in the file name (none or ambiguous){where}"
    if not pitch_min <= pitch <= pitch_max:
        return f"pitch {pitch} outside {pitch_min}..{pitch_max}"
    return None


# --------------------------------------------------------------------------- dispatch

_FOLDER_KWARGS = ("sample_rate", "slice_len", "pitch_min", "pitch_max", "normalize")
_NSYNTH_KWARGS = _FOLDER_KWARGS + ("sources",)
_NOTE_FOLDER_KWARGS = _FOLDER_KWARGS + ("pitch_csv",)
_EMBEDDED_KWARGS = ("sample_rate", "slice_len", "pitch_min", "pitch_max", "n_per_pitch", "seed")
_ALL_KWARGS = frozenset(_NSYNTH_KWARGS + _NOTE_FOLDER_KWARGS + _EMBEDDED_KWARGS)


def load_notes(path: str | os.PathLike | None, **kwargs) -> AudioDataset:
    """A pitched-note dataset: embedded (path None or ""), NSynth, or a folder of notes.

    * None / "": `embedded_notes` with sample_rate, slice_len, pitch_min, pitch_max,
      n_per_pitch, seed.
    * a folder containing ``examples.json`` (or that file): `load_nsynth` with
      sample_rate, slice_len, pitch_min, pitch_max, normalize, sources.
    * any other folder: `load_note_folder` with sample_rate, slice_len, pitch_min,
      pitch_max, normalize, pitch_csv.

    Keyword arguments that the chosen loader does not take are ignored, so one set of
    settings (e.g. from a config) works for every source; a name no loader takes is a
    TypeError. Defaults are the loaders' own (16 kHz, 64000 samples, MIDI 24..84).
    """
    unknown = sorted(set(kwargs) - _ALL_KWARGS)
    if unknown:
        raise TypeError(f"load_notes() got unexpected keyword argument(s) {unknown}; known: {sorted(_ALL_KWARGS)}")
    if path is None or os.fspath(path) == "":
        return embedded_notes(**_only(kwargs, _EMBEDDED_KWARGS))
    root = os.fspath(files.user_path(path))
    if os.path.basename(root) == "examples.json" or os.path.isfile(os.path.join(root, "examples.json")):
        return load_nsynth(root, **_only(kwargs, _NSYNTH_KWARGS))
    return load_note_folder(root, **_only(kwargs, _NOTE_FOLDER_KWARGS))


def _only(kwargs: dict, names: Iterable[str]) -> dict:
    return {k: v for k, v in kwargs.items() if k in names}
