"""MIDI in, audio out: read a Standard MIDI File and render it note by note with GANSynth.

Only numpy and `mido`, which parses the file (no pretty_midi / note_seq, no JAX), so the
pieces can be tested on their own and the generator call stays with the caller, who batches it:

    notes = fit_pitches(parse_midi("song.mid"), low=24, high=84, mode="skip")
    total = max(n.end for n in notes)
    times = instrument_times(total, secs_per_instrument=6.0)
    z = note_latents([n.start for n in notes], times, rng.standard_normal((len(times), 256)),
                     sampling.slerp)
    audio = <GANSynth(z, pitches)>                        # (N, 64000) at 16 kHz, batched
    clip = render(notes, audio, 16000)                    # float32 mono, peak 0.5

This follows magenta's `gansynth/lib/generate_util.py` (`load_midi`, `get_random_instruments`,
`get_z_notes`, `get_envelope`, `combine_notes`). Where it differs, on purpose:

- Pitch range: the reference keeps pitches 36-84 and silently drops the rest, although
  the released checkpoints cover 24-84. `fit_pitches` defaults to 24-84, warns once about
  what falls outside, and can transpose by octaves instead of dropping.
- `sampling.slerp`, which `note_latents` is given, clips the cosine before `arccos` and falls
  back to linear interpolation for (near-)parallel vectors; the reference returns NaN for
  `slerp(z, z, t)`.
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
import io
import math
import warnings
from collections import defaultdict, deque
from collections.abc import Sequence

import mido
import numpy as np

from gan_jax import files

__all__ = [
    "MidiError",
    "Note",
    "envelope",
    "fit_pitches",
    "instrument_times",
    "note_latents",
    "parse_midi",
    "parse_midi_bytes",
    "render",
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


@dataclasses.dataclass
class _Event:
    """A channel event or tempo change, with its absolute tick; `order` keeps file order."""

    tick: int
    order: tuple[int, int]        # (track index, event index): ties at one tick keep file order
    kind: str                     # "on", "off", "program", "tempo"
    channel: int = 0
    a: int = 0                    # pitch, program or tempo (microseconds per quarter note)
    b: int = 0                    # velocity


def _track_events(track: mido.MidiTrack, index: int) -> tuple[list[_Event], int]:
    """The events of one track that matter here, at absolute ticks, and the tick where it ends.

    Aftertouch, controllers, pitch bend, sysex and meta events other than tempo are not
    rendered; anything after an end-of-track event is ignored."""
    events, tick = [], 0
    for msg in track:
        tick += msg.time
        order = (index, len(events))
        if msg.type == "end_of_track":
            break
        if msg.type == "note_on" and msg.velocity > 0:
            events.append(_Event(tick, order, "on", msg.channel, msg.note, msg.velocity))
        elif msg.type in ("note_on", "note_off"):   # note-on with velocity 0 is a note-off by convention
            events.append(_Event(tick, order, "off", msg.channel, msg.note))
        elif msg.type == "program_change":
            events.append(_Event(tick, order, "program", msg.channel, msg.program))
        elif msg.type == "set_tempo":
            events.append(_Event(tick, order, "tempo", a=msg.tempo))
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


# What mido raises for damaged data: its I/O errors, a short read, a meta event it cannot
# decode (a short payload, an unknown SMPTE rate, an impossible key signature).
_MIDO_ERRORS = (EOFError, OSError, ValueError, LookupError, mido.KeySignatureError)
# mido's wording where it names its own internals -> what the user needs to hear.
_MIDO_WORDING = {"running status without last_status": "data byte without a status (running status unset)"}


def _riff_data(data: bytes) -> bytes:
    """The SMF inside a RIFF 'RMID' file (as saved by some Windows tools); other data unchanged."""
    if data[:4] != b"RIFF" or data[8:12] != b"RMID":
        return data
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk_id == b"data":
            return data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)      # RIFF chunks are padded to even lengths
    raise MidiError("RIFF RMID file without a 'data' chunk")


def _known_chunks(data: bytes) -> bytes:
    """`data` without chunks of unknown type: the standard says to skip them, mido refuses them.
    A chunk that runs past the end is kept, for mido to report as truncated."""
    out, pos = [], 0
    while pos < len(data):
        chunk_id, end = data[pos : pos + 4], pos + 8 + int.from_bytes(data[pos + 4 : pos + 8], "big")
        if chunk_id in (b"MThd", b"MTrk") or end > len(data):
            out.append(data[pos:end])
        pos = end
    return b"".join(out)


def _load(data: bytes) -> mido.MidiFile:
    """The file parsed by mido, its errors turned into MidiError (one line, without the name)."""
    data = _riff_data(data)
    if data[:4] != b"MThd":      # before mido, which calls a non-MIDI file under 8 bytes truncated
        raise MidiError(f"not a MIDI file (starts with {data[:4]!r}, expected b'MThd')")
    try:
        return mido.MidiFile(file=io.BytesIO(_known_chunks(data)))
    except EOFError:
        raise MidiError("truncated MIDI data (it ends inside a chunk or before the last track)") from None
    except _MIDO_ERRORS as err:
        text = " ".join(str(err).split()) or type(err).__name__
        raise MidiError(_MIDO_WORDING.get(text, f"damaged MIDI data ({text})")) from None


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
    `include_drums`. Running status is honoured across meta events (mido's rule: a sysex ends
    it). Raises MidiError("<name>: <what is wrong>") for anything that is not a valid file.
    """
    try:
        smf = _load(bytes(data))
        # mido reads the header's words as signed 16-bit numbers (a SMPTE division is
        # negative); the masks give back the raw words, which _Clock decodes.
        fmt, division = smf.type & 0xFFFF, smf.ticks_per_beat & 0xFFFF
        if fmt not in (0, 1):
            raise MidiError(f"MIDI format {fmt} is not supported (only formats 0 and 1)")
        tracks = [_track_events(track, index) for index, track in enumerate(smf.tracks)]
        events = list(heapq.merge(*(track_events for track_events, _ in tracks),
                                  key=lambda e: (e.tick, e.order)))
        clock = _Clock(division, [e for e in events if e.kind == "tempo"])
        return _pair_notes(events, [end for _, end in tracks], clock, include_drums)
    except MidiError as err:
        raise MidiError(f"{name}: {err}") from None


def parse_midi(path, *, include_drums: bool = False) -> list[Note]:
    """The notes of the MIDI file at `path`; see `parse_midi_bytes`."""
    try:
        data = files.user_path(path).read_bytes()
    except OSError as err:
        raise MidiError(f"{path}: cannot read MIDI file ({err.strerror or err})") from None
    return parse_midi_bytes(data, include_drums=include_drums, name=str(path))


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


def note_latents(onsets, times, z_instruments, interpolate) -> np.ndarray:
    """Each onset's latent vector, interpolated between the two instruments whose times bracket it.

    As the reference `get_z_notes` (with its out-of-bounds fix): an onset in
    (times[k], times[k+1]] gets interpolate(z[k], z[k+1], fraction); the reference's
    interpolation is `gan_jax.sampling.slerp`, passed in because sampling imports this module
    (and this one stays free of JAX). Onsets before the first or after the last instrument get
    that instrument (the reference extrapolated past the last); a single instrument is given
    to every note. Returns (len(onsets), *z.shape[1:]).
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
        out[i] = interpolate(z_instruments[k], z_instruments[k + 1], fraction)
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
