"""gan_jax.midi: SMF parsing (hand-made files and conftest.write_midi's), pitch range, latent
schedule and note rendering."""

import math
import warnings

import numpy as np
import pytest

from conftest import write_midi
from gan_jax import midi
from gan_jax.midi import MidiError, Note
from gan_jax.sampling import slerp

# --------------------------------------------------------------------------- a hand-made file

# Format 1, 480 ticks per quarter. Track 0 holds the tempo map: 120 bpm, then 240 bpm from
# tick 960 (1.0 s). Track 1 plays, using running status, a velocity-0 note-on as note-off,
# a sysex, a text event, a drum note and a note that is never switched off.
CONDUCTOR = bytes.fromhex(
    "00 FF58 04 04021808"          # time signature 4/4, skipped
    "00 FF51 03 07A120"            # tempo 500000 us per quarter (120 bpm)
    "8740 FF51 03 03D090"          # +960 ticks: tempo 250000 (240 bpm)
    "8740 FF2F00")                 # +960: end of track (tick 1920)
PLAYER = bytes.fromhex(
    "00 FF03 04 4C656164"          # track name "Lead", skipped
    "00 F0 03 7E7FF7"              # sysex, skipped
    "00 C0 05"                     # program 5 on channel 0
    "00 90 3C 64"                  # tick 0: note-on 60 velocity 100
    "00 40 5A"                     # tick 0: running status, note-on 64 velocity 90
    "8360 3C 00"                   # tick 480: running status, note-on 60 velocity 0 = note-off
    "00 99 24 64"                  # tick 480: drum note-on 36 (channel 10)
    "8360 89 24 40"                # tick 960: drum note-off
    "8360 80 40 40"                # tick 1440: note-off 64
    "00 90 43 50"                  # tick 1440: note-on 67
    "8170 48 50"                   # tick 1680: running status, note-on 72 (never switched off)
    "8170 43 00"                   # tick 1920: running status, 67 off
    "8360 FF2F00")                 # tick 2400: end of track


def chunk(kind: bytes, body: bytes) -> bytes:
    """An SMF chunk: 4-byte type, 4-byte big-endian length, body."""
    return kind + len(body).to_bytes(4, "big") + body


def smf(fmt: int, division: bytes, *tracks: bytes) -> bytes:
    """A whole file from raw track bodies."""
    header = chunk(b"MThd", fmt.to_bytes(2, "big") + len(tracks).to_bytes(2, "big") + division)
    return header + b"".join(chunk(b"MTrk", t) for t in tracks)


HAND_MADE = smf(1, (480).to_bytes(2, "big"), CONDUCTOR, PLAYER)


def test_hand_made_file_times_are_exact(tmp_path):
    path = tmp_path / "hand.mid"
    path.write_bytes(HAND_MADE)
    # 120 bpm: 480 ticks = 0.5 s up to tick 960 (1.0 s); 240 bpm after it: 480 ticks = 0.25 s.
    # The unclosed note 72 ends with its own track (tick 2400 = 1.75 s), not the conductor's.
    assert midi.parse_midi(path) == [
        Note(0.0, 0.5, 60, 100, 5, 0),
        Note(0.0, 1.25, 64, 90, 5, 0),
        Note(1.25, 1.5, 67, 80, 5, 0),
        Note(1.375, 1.75, 72, 80, 5, 0),
    ]


def test_drum_channel_excluded_unless_asked():
    with_drums = midi.parse_midi_bytes(HAND_MADE, include_drums=True)
    assert Note(0.5, 1.0, 36, 100, None, 9) in with_drums
    assert len(with_drums) == 5
    assert all(n.channel != 9 for n in midi.parse_midi_bytes(HAND_MADE))


def test_smpte_division_counts_ticks_per_second():
    # -25 fps x 40 ticks per frame = 1000 ticks per second; tempo events do not apply.
    track = bytes.fromhex("00 FF51 03 03D090  00 90 3C 40  8374 80 3C 00  00 FF2F00")
    notes = midi.parse_midi_bytes(smf(0, bytes([0xE7, 40]), track))
    assert notes == [Note(0.0, 0.5, 60, 64, None, 0)]


def test_overlapping_same_pitch_pairs_first_in_first_out():
    # on 60 at 0, on 60 at 480, off at 960, off at 1440 (120 bpm): [0, 1.0] and [0.5, 1.5].
    track = bytes.fromhex("00 90 3C 40  8360 3C 50  8360 80 3C 00  8360 3C 00  00 FF2F00")
    notes = midi.parse_midi_bytes(smf(0, (480).to_bytes(2, "big"), track))
    assert [(n.start, n.end, n.velocity) for n in notes] == [(0.0, 1.0, 64), (0.5, 1.5, 80)]


def test_unknown_chunks_are_skipped_and_riff_rmid_is_unwrapped():
    # The standard asks readers to skip chunks of unknown type (e.g. Yamaha's XFIH/XFKM).
    with_extra = HAND_MADE[:14] + chunk(b"XFIH", b"\x01\x02\x03") + HAND_MADE[14:]
    assert midi.parse_midi_bytes(with_extra) == midi.parse_midi_bytes(HAND_MADE)
    # RIFF 'RMID' (some Windows tools): little-endian chunks padded to even lengths; the SMF
    # is the 'data' chunk.
    def riff(kind: bytes, body: bytes) -> bytes:
        return kind + len(body).to_bytes(4, "little") + body + b"\x00" * (len(body) % 2)

    rmid = riff(b"RIFF", b"RMID" + riff(b"LIST", b"INFO1") + riff(b"data", HAND_MADE))
    assert midi.parse_midi_bytes(rmid) == midi.parse_midi_bytes(HAND_MADE)
    with pytest.raises(MidiError, match="without a 'data' chunk"):
        midi.parse_midi_bytes(riff(b"RIFF", b"RMID" + riff(b"LIST", b"INFO")))


# --------------------------------------------------------------------------- writer round trip


def test_write_then_parse_round_trips_exactly_on_ticks(tmp_path):
    # Multiples of 1/960 s are whole ticks at 120 bpm and 480 ticks per beat.
    notes = sorted([
        Note(0.0, 0.5, 60, 100, 0, 0),
        Note(0.0, 0.0, 62, 10, 0, 0),           # zero length still reads back
        Note(0.25, 1.0, 60, 90, 0, 0),          # same pitch, overlapping: FIFO
        Note(0.5, 2.125, 48, 127, 41, 1),       # another channel and program
        Note(1.0, 1.5, 36, 64, None, 9),        # drums
        Note(3.0, 3.5, 70, 1, 0, 0),
    ], key=lambda n: (n.start, n.pitch, n.channel, n.end))
    path = write_midi(tmp_path / "out.mid", notes)
    assert midi.parse_midi(path, include_drums=True) == notes
    assert midi.parse_midi(path) == [n for n in notes if n.channel != 9]


def by_pitch(note):
    """Pair notes by pitch and start: rounding to ticks can reorder notes that start together."""
    return (note.pitch, note.start)


@pytest.mark.parametrize("tempo_bpm, ticks_per_beat", [(120, 480), (93.5, 96), (200, 1000)])
def test_write_then_parse_within_half_a_tick(tmp_path, tempo_bpm, ticks_per_beat):
    rng = np.random.default_rng(0)
    starts = rng.uniform(0, 10, 20)
    notes = [Note(float(s), float(s + d), int(p), int(v), 3, 0)
             for s, d, p, v in zip(starts, rng.uniform(0.05, 2, 20), rng.integers(24, 85, 20),
                                   rng.integers(1, 128, 20))]
    back = midi.parse_midi(write_midi(tmp_path / "r.mid", notes, tempo_bpm, ticks_per_beat))
    tick = 60 / tempo_bpm / ticks_per_beat
    assert len(back) == len(notes)
    for a, b in zip(sorted(notes, key=by_pitch), sorted(back, key=by_pitch), strict=True):
        assert (a.pitch, a.velocity, a.program) == (b.pitch, b.velocity, b.program)
        assert abs(a.start - b.start) <= tick / 2 + 1e-12
        assert abs(a.end - b.end) <= tick / 2 + 1e-12


def test_writer_refuses_velocity_zero(tmp_path):
    with pytest.raises(ValueError, match="velocity"):
        write_midi(tmp_path / "v.mid", [Note(0.0, 1.0, 60, 0)])


# --------------------------------------------------------------------------- bad input


def one_line_error_naming(path, expected):
    """Parse `path`, expecting a single-line MidiError that names the file and says `expected`."""
    with pytest.raises(MidiError) as info:
        midi.parse_midi(path)
    message = str(info.value)
    assert str(path) in message and expected in message and "\n" not in message
    assert isinstance(info.value, ValueError)


def test_missing_file(tmp_path):
    one_line_error_naming(tmp_path / "nope.mid", "cannot read")


def test_not_a_midi_file(tmp_path):
    path = tmp_path / "text.mid"
    path.write_text("hello, world")
    one_line_error_naming(path, "not a MIDI file")


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.mid"
    path.write_bytes(HAND_MADE[:-20])
    one_line_error_naming(path, "truncated")


def test_data_byte_without_status(tmp_path):
    path = tmp_path / "status.mid"
    path.write_bytes(smf(0, (480).to_bytes(2, "big"), bytes.fromhex("00 3C 40  00 FF2F00")))
    one_line_error_naming(path, "without a status")


def test_format_2_is_refused(tmp_path):
    path = tmp_path / "f2.mid"
    path.write_bytes(smf(2, (480).to_bytes(2, "big"), bytes.fromhex("00 FF2F00")))
    one_line_error_naming(path, "format 2")


# --------------------------------------------------------------------------- pitch range


NOTES_WIDE = [Note(0.0, 1.0, p, 100) for p in (12, 20, 24, 60, 84, 90, 96)]


def test_fit_pitches_skip_warns_once():
    expected = r"5 of 7 notes outside pitch range 36-84.*12, 20, 24, 90, 96"
    with pytest.warns(UserWarning, match=expected) as record:
        kept = midi.fit_pitches(NOTES_WIDE, low=36, high=84, mode="skip")
    assert len(record) == 1
    assert [n.pitch for n in kept] == [60, 84]


def test_fit_pitches_transpose_by_octaves():
    with pytest.warns(UserWarning, match="transposed") as record:
        moved = midi.fit_pitches(NOTES_WIDE, mode="transpose")
    assert len(record) == 1
    assert sorted(n.pitch for n in moved) == [24, 24, 32, 60, 78, 84, 84]


def test_fit_pitches_in_range_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert midi.fit_pitches(NOTES_WIDE[2:5]) == NOTES_WIDE[2:5]


# --------------------------------------------------------------------------- latent schedule


def test_instrument_times_as_reference_and_short_pieces():
    np.testing.assert_array_equal(midi.instrument_times(13.9, 2.0), np.linspace(-1e-4, 13.9, 6))
    np.testing.assert_array_equal(midi.instrument_times(12.0, 6.0), [-1e-4, 12.0])
    np.testing.assert_array_equal(midi.instrument_times(5.0, 6.0), [-1e-4])   # n = 0 -> one instrument


def test_note_latents_bracketing():
    z = np.eye(3, 4)
    times = np.array([0.0, 1.0, 2.0])
    got = midi.note_latents([0.5, 1.0, 1.25, -1.0, 3.0], times, z, slerp)
    s = math.sqrt(0.5)
    expected = [[s, s, 0, 0], [0, 1, 0, 0], [0, math.cos(math.pi / 8), math.sin(math.pi / 8), 0],
                [1, 0, 0, 0], [0, 0, 1, 0]]                   # outside: clamped to first / last
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_note_latents_single_instrument():
    z = np.arange(4.0)[None]
    got = midi.note_latents([0.0, 2.0], midi.instrument_times(3.0, 6.0), z, slerp)
    np.testing.assert_array_equal(got, [z[0], z[0]])


# --------------------------------------------------------------------------- rendering

SR = 1000     # 10 ms attack = 10 samples, 0.3 s release = 300 samples


def test_envelope_shape_and_sustain_cap():
    env = midi.envelope(1.0, SR)
    assert env.shape == (1300,)
    np.testing.assert_allclose(env[:10], np.linspace(0, 1, 10))       # attack ramp
    np.testing.assert_array_equal(env[10:1000], 1.0)                  # sustain
    np.testing.assert_allclose(env[1000:], np.linspace(1, 0, 300))    # release ramp
    assert midi.envelope(5.0, SR).shape == (3300,)                    # sustain capped at 3 s
    assert midi.envelope(5.0, SR, max_sustain=4.0).shape == (4300,)


def test_envelope_shorter_than_attack_is_continuous():
    env = midi.envelope(0.0, SR)                    # zero length: attack then straight release
    assert env.shape == (300,) and env[0] == 0.0 and env[-1] == 0.0
    assert np.max(np.abs(np.diff(env))) <= 1 / 9 + 1e-12


def test_render_single_note_is_scaled_envelope():
    audio = np.ones((1, 4000))
    clip = midi.render([Note(0.0, 1.0, 60, 127)], audio, SR)
    assert clip.dtype == np.float32
    np.testing.assert_allclose(clip, 0.5 * midi.envelope(1.0, SR), atol=1e-7)


def test_render_onsets_velocity_and_peak():
    notes = [Note(0.25, 0.75, 60, 127), Note(2.0, 2.5, 62, 64)]
    audio = np.ones((2, 4000))
    clip = midi.render(notes, audio, SR, attack=0.0)
    assert clip.shape == (2000 + 800,)                  # last onset + 0.5 s sustain + 0.3 s release
    assert np.all(clip[:250] == 0) and clip[250] > 0    # first note starts at sample 250
    assert np.all(clip[1050:2000] == 0) and clip[2000] > 0
    assert np.max(np.abs(clip)) == pytest.approx(0.5)
    assert clip[2000] / clip[250] == pytest.approx(64 / 127, rel=1e-6)


def test_render_per_note_normalisation_and_mix_peak():
    rng = np.random.default_rng(3)
    notes = [Note(0.1 * i, 0.1 * i + 0.4, 60, 100) for i in range(6)]
    audio = rng.standard_normal((6, 2000)) * np.array([[1e-3], [1], [10], [1], [1], [1]])
    clip = midi.render(notes, audio, SR)
    assert np.max(np.abs(clip)) == pytest.approx(0.5, rel=1e-6)
    # A quiet generated note is as loud as the others after normalisation: its solo part peaks near 1.
    solo = midi.render(notes[:1], audio[:1], SR, peak=1.0)
    assert np.max(np.abs(solo)) == pytest.approx(1.0, rel=1e-6)


def test_render_note_longer_than_generated_audio():
    # 0.5 s of generated audio, 2 s note: the sustain shrinks so the 0.3 s release still fits.
    clip = midi.render([Note(1.0, 3.0, 60, 100)], np.ones((1, 500)), SR)
    assert clip.shape == (1500,)
    np.testing.assert_allclose(clip[1200:], 0.5 * np.linspace(1, 0, 300), atol=1e-7)
    # GANSynth-sized audio with a sustain above its 4 s.
    long = midi.render([Note(0.0, 10.0, 60, 100)], np.ones((1, 64000)), 16000, max_sustain=8.0)
    assert long.shape == (64000,) and long[-1] == 0.0


def test_render_silent_notes_and_empty_list():
    notes = [Note(0.0, 0.5, 60, 100), Note(0.2, 0.5, 64, 100)]
    audio = np.stack([np.zeros(2000), np.ones(2000)])
    clip = midi.render(notes, audio, SR)
    assert np.all(np.isfinite(clip)) and np.max(np.abs(clip)) == pytest.approx(0.5)
    silent = midi.render(notes, np.zeros((2, 2000)), SR)
    assert np.all(silent == 0) and silent.shape == (800,)      # 0.2 s + 0.3 s + 0.3 s release
    empty = midi.render([], np.zeros((0, 64000)), 16000)
    assert empty.shape == (0,) and empty.dtype == np.float32


def test_render_checks_audio_shape():
    with pytest.raises(ValueError, match="shape"):
        midi.render([Note(0.0, 1.0, 60, 100)], np.ones((2, 100)), SR)


def test_midi_to_clip_end_to_end(tmp_path):
    """The whole chain with a sine 'generator': file -> notes -> latents -> clip."""
    path = write_midi(tmp_path / "song.mid", [
        Note(0.0, 1.0, 60, 100), Note(0.5, 1.5, 64, 80), Note(1.0, 2.0, 100, 90)])
    with pytest.warns(UserWarning, match="1 of 3"):
        notes = midi.fit_pitches(midi.parse_midi(path), mode="skip")
    times = midi.instrument_times(max(n.end for n in notes), 0.5)
    z_instruments = np.random.default_rng(4).standard_normal((len(times), 16))
    z = midi.note_latents([n.start for n in notes], times, z_instruments, slerp)
    assert z.shape == (2, 16) and np.all(np.isfinite(z))
    t = np.arange(4000) / SR
    audio = np.stack([np.sin(2 * np.pi * 440 * 2 ** ((n.pitch - 69) / 12) * t) for n in notes])
    clip = midi.render(notes, audio, SR)
    assert clip.shape == (1800,) and np.max(np.abs(clip)) == pytest.approx(0.5)
