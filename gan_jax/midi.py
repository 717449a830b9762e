"""MIDI in, audio out: read a Standard MIDI File and render it note by note with GANSynth.

Pure Python and numpy (no mido / pretty_midi / note_seq, no JAX), so the pieces can be
tested on their own and the generator call stays with the caller, who batches it:

    notes = fit_pitches(parse_midi("song.mid"), low=24, high=84, mode="skip")
    total = max(n.end for n in notes)
    times = instrument_times(total, secs_per_instrument=6.0)
    z = note_latents([n.start for n in notes], times, rng.standard_normal((len(times), 256)))
    audio = <GANSynth(z, pitches)>                        # (N, 64000) at 16 kHz, batched
    clip = render(notes, audio, 16000)                    # float32 mono, peak 0.5

This follows magenta's `gansynth/lib/generate_util.py` (`load_midi`, `get_random_instruments`,
`get_z_notes`, `get_envelope`, `combine_notes`). Where it differs, on purpose:

- Pitch range: the reference keeps pitches 36-84 and silently drops the rest, although
  the released checkpoints cover 24-84. `fit_pitches` defaults to 24-84, warns once about
  what falls outside, and can transpose by octaves instead of dropping.
- `slerp` clips the cosine before `arccos` and falls back to linear interpolation for
  (near-)parallel vectors; the reference returns NaN for `slerp(z, z, t)`.
- Fewer than two instruments (`int(total / secs) < 2`) crash the reference; here one
  instrument is used for the whole piece. Onsets outside the instrument times are clamped
  to the first / last instrument instead of extrapolated.
- Envelope: the reference overwrites the attack with a release that starts at 1.0, so
  notes shorter than the attack jump; here the envelope is min(attack ramp, release ramp),
  identical to the reference whenever the sustain is at least as long as the attack.
  Sample counts are rounded, not truncated (0.29 s * 16 kHz is 4639.999... in floating point).
- Notes whose sustain + release exceed the generated audio (e.g. `max_sustain` raised, or
  a shorter generator) get a shortened sustain so that the full release still fits,
  instead of a shape error (the reference's long-note bugs, magenta #1458).
- Peaks are taken on |x| (the reference divides by the signed max, which can leave a
  note or the clip above its target when the negative half is larger), and all-zero
  notes or clips are left at zero instead of becoming NaN.
- The mix buffer is exactly as long as the last note's release (the reference rounds the
  length down to whole seconds after adding 3 s).
- An empty note list renders to an empty float32 array (no error), so a caller can check
  `clip.size` -- `fit_pitches` has already warned about what was dropped.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import math
import warnings
from collections import defaultdict, deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gan_jax import files

__all__ = [
    "MidiError",
    "Note",
    "encode_midi",
    "envelope",
    "fit_pitches",
    "instrument_times",
    "note_latents",
    "parse_midi",
    "parse_midi_bytes",
    "render",
    "slerp",
    "write_midi",
]

DRUM_CHANNEL = 9                 # MIDI channel 10, counted from 0
DEFAULT_TEMPO_US = 500_000       # microseconds per quarter note (120 bpm) until a tempo event
MAX_VELOCITY = 127.0
# SMPTE frame rates as stored in the header (negative byte) -> exact frames per second;
# 29 means 29.97 drop-frame, i.e. 30000/1001.
SMPTE_FPS = {24: (24, 1), 25: (25, 1), 29: (30000, 1001), 30: (30, 1)}


class MidiError(ValueError):
    """A file that is missing, not a Standard MIDI File, or damaged."""


@dataclasses.dataclass(frozen=True)
class Note:
    """One note: times in seconds, `program` is None when the channel had no program change."""

    start: float
    end: float
    pitch: int
    velocity: int
    program: int | None = None
    channel: int = 0


def _sort_key(note: Note):
    return (note.start, note.pitch, note.channel, note.end)


# --------------------------------------------------------------------------- reading


class _Truncated(Exception):
    """Raised by `_Reader` when the data ends early; turned into a MidiError with the name."""


class _Reader:
    """A cursor over bytes that reads big-endian integers and variable-length quantities."""

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else min(end, len(data))

    def at_end(self) -> bool:
        return self.pos >= self.end

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise _Truncated(f"needed {n} bytes at offset {self.pos}, only {self.end - self.pos} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vlq(self) -> int:
        """A variable-length quantity: 7 bits a byte, high bit set on all but the last; at most 4 bytes."""
        value = 0
        for _ in range(4):
            byte = self.u8()
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                return value
        raise MidiError(f"variable-length quantity longer than 4 bytes at offset {self.pos - 4}")


@dataclasses.dataclass
class _Event:
    """A channel event or tempo change, with its absolute tick; `order` keeps file order."""

    tick: int
    order: tuple[int, int]        # (track index, event index): ties at one tick keep file order
    kind: str                     # "on", "off", "program", "tempo"
    channel: int = 0
    a: int = 0                    # pitch, program or tempo (microseconds per quarter note)
    b: int = 0                    # velocity


_DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


def _channel_event(status: int, data: bytes, tick: int, order) -> _Event | None:
    """The event a channel message stands for, or None for messages that do not matter here."""
    kind, channel = status & 0xF0, status & 0x0F
    if kind == 0x90 and data[1] > 0:
        return _Event(tick, order, "on", channel, data[0], data[1])
    if kind in (0x80, 0x90):      # note-off, or note-on with velocity 0 (a note-off by convention)
        return _Event(tick, order, "off", channel, data[0])
    if kind == 0xC0:
        return _Event(tick, order, "program", channel, data[0])
    return None                   # aftertouch, controllers, pitch bend: not rendered


def _meta_event(reader: _Reader, tick: int, order) -> tuple[_Event | None, bool]:
    """Read a meta event after its 0xFF byte: (a tempo event or None, whether it ends the track)."""
    meta_type = reader.u8()
    payload = reader.take(reader.vlq())
    if meta_type == 0x2F:
        return None, True
    if meta_type == 0x51:
        if len(payload) != 3:
            raise MidiError(f"tempo event with {len(payload)} data bytes (expected 3) at offset {reader.pos}")
        return _Event(tick, order, "tempo", a=int.from_bytes(payload, "big")), False
    return None, False            # time / key signature, text, markers...: not needed to render


def _read_track(reader: _Reader, track: int) -> tuple[list[_Event], int]:
    """The events of one MTrk chunk and the tick where it ends."""
    events, tick, status = [], 0, None
    while not reader.at_end():
        tick += reader.vlq()
        order = (track, len(events))
        byte = reader.u8()
        if byte == 0xFF:
            event, done = _meta_event(reader, tick, order)
            if event is not None:
                events.append(event)
            if done:
                break
            continue
        if byte in (0xF0, 0xF7):  # sysex and escape: a length, then bytes to skip
            reader.take(reader.vlq())
            continue
        if byte >= 0xF0:
            raise MidiError(f"unexpected status byte 0x{byte:02X} in track {track} "
                            f"at offset {reader.pos - 1}")
        if byte & 0x80:
            status = byte
            data = reader.take(_DATA_BYTES[status & 0xF0])
        elif status is None:
            raise MidiError(f"data byte 0x{byte:02X} without a status (running status unset) "
                            f"in track {track} at offset {reader.pos - 1}")
        else:             # running status: this byte is the first data byte of a repeated status
            data = bytes([byte]) + reader.take(_DATA_BYTES[status & 0xF0] - 1)
        event = _channel_event(status, data, tick, order)
        if event is not None:
            events.append(event)
    return events, tick


class _Clock:
    """Ticks -> seconds through the tempo map, in exact integer arithmetic until one final division."""

    def __init__(self, division: int, tempos: list[_Event]):
        if division & 0x8000:     # SMPTE: a fixed number of ticks per second, tempo events ignored
            fps = 256 - (division >> 8)
            if fps not in SMPTE_FPS:
                raise MidiError(f"SMPTE time division with an unknown frame rate (-{fps})")
            num, den = SMPTE_FPS[fps]
            ticks_per_frame = division & 0xFF
            if ticks_per_frame == 0:
                raise MidiError("SMPTE time division with 0 ticks per frame")
            # seconds = ticks / (fps * ticks_per_frame) = ticks * den / (num * ticks_per_frame)
            self.ticks, self.nums, self.rates = [0], [0], [den]
            self.denominator = num * ticks_per_frame
            return
        if division == 0:
            raise MidiError("time division of 0 ticks per quarter note")
        # Segment k starts at ticks[k] where seconds * denominator = nums[k] and runs at rates[k]
        # (microseconds per quarter note) per tick; seconds = that / (ticks_per_beat * 1e6).
        self.ticks, self.nums, self.rates = [0], [0], [DEFAULT_TEMPO_US]
        self.denominator = division * 1_000_000
        for event in sorted(tempos, key=lambda e: (e.tick, e.order)):
            num = self.nums[-1] + (event.tick - self.ticks[-1]) * self.rates[-1]
            if event.tick == self.ticks[-1]:   # several changes at one tick: the last one wins
                self.nums[-1], self.rates[-1] = num, event.a
            else:
                self.ticks.append(event.tick)
                self.nums.append(num)
                self.rates.append(event.a)

    def seconds(self, tick: int) -> float:
        k = bisect.bisect_right(self.ticks, tick) - 1
        return (self.nums[k] + (tick - self.ticks[k]) * self.rates[k]) / self.denominator


def _unwrap_riff(data: bytes) -> bytes:
    """The SMF inside a RIFF 'RMID' file (as saved by some Windows tools); other data unchanged."""
    if data[:4] != b"RIFF" or data[8:12] != b"RMID":
        return data
    reader = _Reader(data, 12)
    while not reader.at_end():
        chunk_id, size = reader.take(4), int.from_bytes(reader.take(4), "little")
        if chunk_id == b"data":
            return reader.take(size)
        reader.take(size + (size & 1))      # RIFF chunks are padded to even lengths
    raise MidiError("RIFF RMID file without a 'data' chunk")


def _read_chunks(data: bytes) -> tuple[int, list[tuple[list[_Event], int]]]:
    """(time division, [(events, end tick)] per track) of a whole format-0 or format-1 file."""
    reader = _Reader(data)
    if data[:4] != b"MThd":
        raise MidiError(f"not a MIDI file (starts with {data[:4]!r}, expected b'MThd')")
    reader.take(4)
    header_size = reader.uint(4)
    if header_size < 6:
        raise MidiError(f"MThd header of {header_size} bytes (expected 6)")
    fmt, n_tracks, division = reader.uint(2), reader.uint(2), reader.uint(2)
    reader.take(header_size - 6)  # a longer header is allowed; the extra bytes are skipped
    if fmt not in (0, 1):
        raise MidiError(f"MIDI format {fmt} is not supported (only formats 0 and 1)")
    tracks = []
    while len(tracks) < n_tracks:
        if reader.at_end():
            raise MidiError(f"truncated: header announces {n_tracks} tracks, found {len(tracks)}")
        chunk_id, size = reader.take(4), reader.uint(4)
        if reader.pos + size > len(data):
            raise MidiError(f"truncated: chunk {chunk_id!r} at offset {reader.pos - 8} announces "
                            f"{size} bytes, only {len(data) - reader.pos} left")
        if chunk_id == b"MTrk":
            tracks.append(_read_track(_Reader(data, reader.pos, reader.pos + size), len(tracks)))
        reader.pos += size        # chunks of unknown type are skipped, as the standard asks
    return division, tracks


def _pair_notes(events: list[_Event], track_ends: list[int], clock: _Clock,
                include_drums: bool) -> list[Note]:
    """Match note-ons with note-offs, first in first out per (track, channel, pitch)."""
    programs: dict[int, int] = {}                  # channel -> program: channels are shared by tracks
    open_notes: dict[tuple, deque] = defaultdict(deque)
    notes = []

    def close(start_event: _Event, end_tick: int, program):
        if include_drums or start_event.channel != DRUM_CHANNEL:
            notes.append(Note(clock.seconds(start_event.tick), clock.seconds(end_tick),
                              start_event.a, start_event.b, program, start_event.channel))

    for event in events:
        key = (event.order[0], event.channel, event.a)
        if event.kind == "program":
            programs[event.channel] = event.a
        elif event.kind == "on":
            open_notes[key].append((event, programs.get(event.channel)))
        elif event.kind == "off" and open_notes[key]:   # a stray note-off is ignored
            start_event, program = open_notes[key].popleft()
            close(start_event, event.tick, program)
    for (track, _, _), pending in open_notes.items():  # no note-off: the note lasts to the track's end
        for start_event, program in pending:
            close(start_event, track_ends[track], program)
    return sorted(notes, key=_sort_key)


def parse_midi_bytes(data: bytes, *, include_drums: bool = False, name: str = "<bytes>") -> list[Note]:
    """The notes of a Standard MIDI File (formats 0 and 1) given as bytes, sorted by start.

    Times are in seconds through the tempo map of all tracks (or the SMPTE rate). Note-on with
    velocity 0 counts as note-off; overlapping notes of one pitch are closed first in, first
    out; notes never closed end with their track. Channel 10 (drums) is left out unless
    `include_drums`. Running status is honoured, and (leniently) kept across meta and sysex
    events. Raises MidiError("<name>: <what is wrong>") for anything that is not a valid file.
    """
    try:
        division, tracks = _read_chunks(_unwrap_riff(bytes(data)))
        events = list(heapq.merge(*(track_events for track_events, _ in tracks),
                                  key=lambda e: (e.tick, e.order)))
        clock = _Clock(division, [e for e in events if e.kind == "tempo"])
        return _pair_notes(events, [end for _, end in tracks], clock, include_drums)
    except _Truncated as err:
        raise MidiError(f"{name}: truncated MIDI data ({err})") from None
    except MidiError as err:
        raise MidiError(f"{name}: {err}") from None


def parse_midi(path, *, include_drums: bool = False) -> list[Note]:
    """The notes of the MIDI file at `path`; see `parse_midi_bytes`."""
    try:
        data = files.user_path(path).read_bytes()
    except OSError as err:
        raise MidiError(f"{path}: cannot read MIDI file ({err.strerror or err})") from None
    return parse_midi_bytes(data, include_drums=include_drums, name=str(path))


# --------------------------------------------------------------------------- writing


def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _check_note(note: Note) -> None:
    """Refuse what a MIDI file cannot hold rather than write a file that reads back differently."""
    if not (0 <= note.pitch <= 127 and 0 <= note.channel <= 15):
        raise ValueError(f"pitch {note.pitch} / channel {note.channel} out of MIDI range in {note}")
    if not 1 <= note.velocity <= 127:  # velocity 0 would be read back as a note-off
        raise ValueError(f"velocity must be 1..127, got {note.velocity} in {note}")
    if note.program is not None and not 0 <= note.program <= 127:
        raise ValueError(f"program must be None or 0..127 in {note}")
    if not 0 <= note.start <= note.end:
        raise ValueError(f"need 0 <= start <= end in {note}")


def _note_messages(notes: Sequence[Note], ticks_per_second: float) -> list[tuple]:
    """(tick, rank, order, message bytes) for every note: at one tick, the ends of earlier notes
    come first, then program changes and note-ons, then the ends of zero-length notes, so that
    first-in-first-out pairing reads every note back."""
    messages = []
    for order, note in enumerate(sorted(notes, key=_sort_key)):
        _check_note(note)
        on, off = round(note.start * ticks_per_second), round(note.end * ticks_per_second)
        if note.program is not None:
            messages.append((on, 1, order, bytes([0xC0 | note.channel, note.program])))
        messages.append((on, 1, order, bytes([0x90 | note.channel, note.pitch, note.velocity])))
        messages.append((off, 0 if off > on else 2, order, bytes([0x80 | note.channel, note.pitch, 0])))
    return sorted(messages, key=lambda m: m[:3])


def encode_midi(notes: Sequence[Note], tempo_bpm: float = 120, ticks_per_beat: int = 480) -> bytes:
    """A format-0 Standard MIDI File (one track, one tempo) holding `notes`.

    Times are rounded to the nearest tick; a program change precedes every note that has a
    program. Two things MIDI cannot hold do not read back as written: nested notes of one
    pitch on one channel come back paired first in, first out, and a note with program None
    on a channel that earlier had a program change reads back with that program.
    """
    if not 1 <= ticks_per_beat <= 0x7FFF:
        raise ValueError(f"ticks_per_beat must be 1..32767, got {ticks_per_beat}")
    tempo_us = round(60_000_000 / tempo_bpm)
    if not 1 <= tempo_us < 1 << 24:
        raise ValueError(f"tempo_bpm {tempo_bpm} out of the range a MIDI tempo event can hold")
    ticks_per_second = ticks_per_beat * 1_000_000 / tempo_us
    track, last = bytearray(b"\x00\xFF\x51\x03" + tempo_us.to_bytes(3, "big")), 0
    for tick, _, _, message in _note_messages(notes, ticks_per_second):
        track += _vlq(tick - last) + message
        last = tick
    track += b"\x00\xFF\x2F\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1]) + ticks_per_beat.to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track)


def write_midi(path, notes: Sequence[Note], tempo_bpm: float = 120, ticks_per_beat: int = 480) -> Path:
    """Write `notes` to `path` as a format-0 MIDI file (see `encode_midi`); returns the path."""
    path = Path(path)
    path.write_bytes(encode_midi(notes, tempo_bpm, ticks_per_beat))
    return path


# --------------------------------------------------------------------------- pitch range


def _octave_into_range(pitch: int, low: int, high: int) -> int:
    """The octave transposition of `pitch` nearest to it within [low, high]."""
    if pitch < low:
        return pitch + 12 * math.ceil((low - pitch) / 12)
    if pitch > high:
        return pitch - 12 * math.ceil((pitch - high) / 12)
    return pitch


def fit_pitches(notes: Sequence[Note], low: int = 24, high: int = 84, mode: str = "skip") -> list[Note]:
    """Keep notes within [low, high]; drop (mode="skip") or octave-transpose ("transpose") the rest.

    The default 24-84 is the range the GANSynth checkpoints were trained on (the reference
    `load_midi` keeps only 36-84). One warning summarises what fell outside.
    """
    if mode not in ("skip", "transpose"):
        raise ValueError(f"mode must be 'skip' or 'transpose', got {mode!r}")
    if not 0 <= low <= high <= 127:
        raise ValueError(f"need 0 <= low <= high <= 127, got low={low}, high={high}")
    if mode == "transpose" and high - low < 11:
        raise ValueError(f"transposing by octaves needs a range of at least 12 pitches, got {low}-{high}")
    outside = [n for n in notes if not low <= n.pitch <= high]
    if not outside:
        return list(notes)
    examples = sorted({n.pitch for n in outside})
    shown = ", ".join(map(str, examples[:8])) + (", ..." if len(examples) > 8 else "")
    action = "dropped" if mode == "skip" else "transposed by octaves into range"
    warnings.warn(f"{len(outside)} of {len(notes)} notes outside pitch range {low}-{high} were "
                  f"{action} (pitches {shown})", stacklevel=2)
    if mode == "skip":
        return [n for n in notes if low <= n.pitch <= high]
    moved = [dataclasses.replace(n, pitch=_octave_into_range(n.pitch, low, high)) for n in notes]
    return sorted(moved, key=_sort_key)


# --------------------------------------------------------------------------- latent schedule


def instrument_times(total_time: float, secs_per_instrument: float) -> np.ndarray:
    """Times of the instruments (latent vectors) the timbre moves between, as in the reference.

    n = int(total_time / secs_per_instrument) instruments at linspace(-1e-4, total_time, n);
    the -1e-4 puts an onset at exactly 0 strictly after the first instrument. When n < 2 (a
    piece shorter than two instrument spans), the reference crashes; here a single instrument
    at -1e-4 is returned and `note_latents` gives every note that one vector.
    """
    if not secs_per_instrument > 0:
        raise ValueError(f"secs_per_instrument must be > 0, got {secs_per_instrument}")
    if not total_time >= 0:
        raise ValueError(f"total_time must be >= 0, got {total_time}")
    n = int(total_time / secs_per_instrument)
    if n < 2:
        return np.array([-1e-4])
    return np.linspace(-1e-4, total_time, n)


def slerp(z0, z1, t: float) -> np.ndarray:
    """Spherical linear interpolation from z0 (t=0) to z1 (t=1), the reference's formula.

    Unit vectors stay unit. (Near-)parallel vectors, where sin(angle) -> 0, fall back to the
    formula's limit, linear interpolation; exactly opposite vectors turn through a fixed
    orthogonal direction (any great circle joins them); zero vectors interpolate linearly.
    """
    z0, z1 = np.asarray(z0), np.asarray(z1)
    dtype = np.result_type(z0, z1, np.float32)
    a, b = z0.astype(np.float64).ravel(), z1.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return ((1 - t) * z0 + t * z1).astype(dtype)
    cos = np.clip(np.dot(a / na, b / nb), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    if sin < 1e-6 and cos > 0:
        out = (1 - t) * a + t * b
    elif sin < 1e-6:
        out = _slerp_opposite(a, na, nb, t)
    else:
        out = np.sin((1 - t) * omega) / sin * a + np.sin(t * omega) / sin * b
    return out.reshape(z0.shape).astype(dtype)


def _slerp_opposite(a: np.ndarray, na: float, nb: float, t: float) -> np.ndarray:
    """Half a great circle from a to -a*(nb/na) through the axis least aligned with a."""
    u = a / na
    axis = np.zeros_like(u)
    axis[np.argmin(np.abs(u))] = 1.0
    q = axis - np.dot(axis, u) * u
    q /= np.linalg.norm(q)
    norm = (1 - t) * na + t * nb
    return norm * (np.cos(np.pi * t) * u + np.sin(np.pi * t) * q)


def note_latents(onsets, times, z_instruments) -> np.ndarray:
    """Each onset's latent vector, slerped between the two instruments whose times bracket it.

    As the reference `get_z_notes` (with its out-of-bounds fix): an onset in
    (times[k], times[k+1]] gets slerp(z[k], z[k+1], fraction). Onsets before the first or
    after the last instrument get that instrument (the reference extrapolated past the last);
    a single instrument is given to every note. Returns (len(onsets), *z.shape[1:]).
    """
    onsets = np.asarray(onsets, dtype=np.float64).ravel()
    times = np.asarray(times, dtype=np.float64).ravel()
    z_instruments = np.asarray(z_instruments)
    if len(times) == 0 or len(times) != len(z_instruments):
        raise ValueError(f"need one latent vector per instrument time, got {len(z_instruments)} "
                         f"vectors for {len(times)} times")
    if np.any(np.diff(times) <= 0):
        raise ValueError("instrument times must be strictly increasing")
    out = np.empty((len(onsets),) + z_instruments.shape[1:], np.result_type(z_instruments, np.float32))
    for i, t in enumerate(onsets):
        if len(times) == 1:
            out[i] = z_instruments[0]
            continue
        k = int(np.clip(np.searchsorted(times, t, side="left") - 1, 0, len(times) - 2))
        fraction = float(np.clip((t - times[k]) / (times[k + 1] - times[k]), 0.0, 1.0))
        out[i] = slerp(z_instruments[k], z_instruments[k + 1], fraction)
    return out


# --------------------------------------------------------------------------- rendering


def envelope(duration: float, sample_rate: int, *, attack: float = 0.010, max_sustain: float = 3.0,
             release: float = 0.3, max_length: int | None = None) -> np.ndarray:
    """The reference's attack-sustain-release envelope for a note of `duration` seconds.

    A linear attack over `attack` s from the onset (it does not add length), sustain to
    min(duration, max_sustain), then a linear release to 0 over `release` s. Where the
    note is shorter than the attack, the release takes over from the attack's level
    (min of both ramps). With `max_length` (the generated audio's length) the sustain is
    shortened so the release still fits, and the release itself is cut to `max_length`.
    """
    n_attack = round(sample_rate * attack)
    n_sustain = round(sample_rate * min(max(duration, 0.0), max_sustain))
    n_release = round(sample_rate * release)
    if max_length is not None and n_sustain + n_release > max_length:
        n_release = min(n_release, max_length)
        n_sustain = max_length - n_release
    index = np.arange(n_sustain + n_release, dtype=np.float64)
    rise = np.minimum(index / (n_attack - 1), 1.0) if n_attack > 1 else np.ones_like(index)
    fall = np.ones_like(index)
    if n_release > 1:
        fall[n_sustain:] = np.linspace(1.0, 0.0, n_release)
    elif n_release == 1:
        fall[n_sustain:] = 0.0
    return np.minimum(rise, fall)


def _normalised(x: np.ndarray, target: float) -> np.ndarray:
    """x scaled to peak |x| = target; silence stays silence instead of becoming NaN."""
    peak = np.max(np.abs(x)) if x.size else 0.0
    return x * (target / peak) if peak > 0 else x


def render(notes: Sequence[Note], note_audio, sample_rate: int, *, attack: float = 0.010,
           max_sustain: float = 3.0, release: float = 0.3, peak: float = 0.5) -> np.ndarray:
    """Mix one generated waveform per note into a clip, as the reference `combine_notes`.

    `note_audio[i]` (shape (len(notes), T), e.g. GANSynth's 64000 samples at 16 kHz) is the
    audio of `notes[i]`. Each note gets `envelope(...)`, is normalised to peak 1, scaled by
    velocity/127 and added at sample round(start * sample_rate); the mix, long enough for
    the last release, is normalised to `peak`. Returns float32 mono; no notes -> empty array.
    """
    note_audio = np.asarray(note_audio, dtype=np.float64)
    if note_audio.ndim != 2 or note_audio.shape[0] != len(notes):
        raise ValueError(f"note_audio must have shape (len(notes)={len(notes)}, samples), "
                         f"got {note_audio.shape}")
    if not notes:
        return np.zeros(0, np.float32)
    pieces = []
    for note, audio in zip(notes, note_audio, strict=True):
        env = envelope(note.end - note.start, sample_rate, attack=attack, max_sustain=max_sustain,
                       release=release, max_length=audio.shape[0])
        shaped = _normalised(audio[:env.shape[0]] * env, 1.0) * (note.velocity / MAX_VELOCITY)
        pieces.append((round(note.start * sample_rate), shaped))
    mix = np.zeros(max(onset + piece.shape[0] for onset, piece in pieces))
    for onset, piece in pieces:
        mix[onset:onset + piece.shape[0]] += piece
    return _normalised(mix, peak).astype(np.float32)
