"""The embedded datasets: sounds and notes made with numpy, so that every model trains
with no download (`python train.py --model specgan` and friends).

* `embedded_dataset()` -- 10 classes of short sounds for WaveGAN and SpecGAN; see
  `EMBEDDED_DESCRIPTION`.
* `embedded_notes()` -- pitched notes of 4 instruments for GANSynth; see
  `EMBEDDED_NOTES_DESCRIPTION`.

Both are deterministic in their seed, and each clip depends only on its own (seed,
class or pitch, index), so a smaller set is a subset of a larger one. They are smoke-test
and demo sets that train in minutes, not benchmarks. `gan_jax.data.load_dataset` and
`gan_jax.notes.load_notes` return them when no data path is given.
"""

from __future__ import annotations

import math

import numpy as np

from gan_jax.dataset import AudioDataset, DataError, check_pitch_range, check_sizes, pitched_dataset, seed64

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

EMBEDDED_INSTRUMENTS = ("pluck", "bowed", "mallet", "reed")

EMBEDDED_NOTES_DESCRIPTION = """\
The embedded note set is generated on the fly with numpy (no files; the same notes for
the same seed): n_per_pitch notes for every MIDI pitch in pitch_min..pitch_max
(default 4 x 61 = 244 notes of 4 s at 16 kHz), label = pitch - pitch_min. Each pitch
cycles through 4 instruments:
  pluck  - plucked string: harmonics shaped by the pluck position, upper ones decay faster
  bowed  - bowed string: bright sawtooth-like tone, slow attack, delayed 4.5-6.5 Hz vibrato
  mallet - struck bar: inharmonic partials (free bar 1 : 2.76 : 5.40 : 8.93 or tuned
           bar 1 : 4 : 10), decaying, half of them with vibraphone tremolo
  reed   - reed/square-ish tone: odd harmonics plus a little of the even ones
Like NSynth, a note is held for 3/4 of the clip (3 s of 4 s), then released; every
note has random timbre, envelope, +-3 cent detune and loudness (peak 0.3-0.9), and all
partials stay below 0.45 x the sample rate. A smoke-test and demo set, not a benchmark."""


_EMBED_CHUNK = 25  # clips per generator call; clip i depends only on (seed, class, i)
_TABLE_SIZE = 2048  # wavetable length for the harmonic instruments of embedded_notes
_CHUNK_ROWS = 16  # notes rendered together: large enough to vectorise, small enough for the cache
_PARAMS = 16  # uniform parameters drawn per embedded note
_MAX_HARMONICS = 512  # keeps >= 4 table samples per period of the highest harmonic


def midi_to_hz(pitch) -> np.ndarray:
    """Equal-tempered frequency of a MIDI pitch: 440 * 2 ** ((pitch - 69) / 12)."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


# --------------------------------------------------------------------------- embedded sounds


def _rng(seed: int, *words: int) -> np.random.Generator:
    return np.random.default_rng([seed64(seed), *words])


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
    check_sizes(sample_rate, slice_len, num_channels)
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


# --------------------------------------------------------------------------- embedded notes


def embedded_notes(
    *,
    sample_rate: int = 16000,
    slice_len: int = 64000,
    pitch_min: int = 24,
    pitch_max: int = 84,
    n_per_pitch: int = 4,
    seed: int = 0,
) -> AudioDataset:
    """The built-in synthetic note set (see `EMBEDDED_NOTES_DESCRIPTION`), deterministic in `seed`.

    Note j of pitch p uses instrument ``EMBEDDED_INSTRUMENTS[(p + j) % 4]`` (so every
    instrument appears even with n_per_pitch=1) and depends only on (seed, p, j,
    sample_rate, slice_len): a smaller n_per_pitch or pitch range gives a subset of a
    larger one. ``files`` holds ``embedded:<instrument>:<pitch>:<j>``.
    """
    check_sizes(sample_rate, slice_len, 1)
    pitch_min, pitch_max = check_pitch_range(pitch_min, pitch_max)
    if isinstance(n_per_pitch, bool) or int(n_per_pitch) != n_per_pitch or n_per_pitch <= 0:
        raise DataError(f"n_per_pitch must be a positive integer, got {n_per_pitch!r}")
    pitches = np.repeat(np.arange(pitch_min, pitch_max + 1), int(n_per_pitch))
    takes = np.tile(np.arange(int(n_per_pitch)), pitch_max - pitch_min + 1)
    instruments = (pitches + takes) % len(EMBEDDED_INSTRUMENTS)
    # One generator per note keeps each note independent of which others are made.
    rngs = [_rng(seed, int(p), int(j)) for p, j in zip(pitches, takes)]
    params = np.stack([r.random(_PARAMS) for r in rngs])
    jitter = np.stack([r.standard_normal(64) for r in rngs])
    # +-3 cents of detune: audible as "not a sampler", far inside a pitch class.
    f0 = midi_to_hz(pitches) * 2.0 ** ((params[:, -1] - 0.5) * 6.0 / 1200.0)

    audio = np.empty((len(pitches), int(slice_len)), dtype=np.float32)
    t = np.arange(int(slice_len), dtype=np.float64) / sample_rate
    hold = 0.75 * slice_len / sample_rate
    for index, render in enumerate(_RENDERERS):
        rows = np.flatnonzero(instruments == index)
        for start in range(0, rows.size, _CHUNK_ROWS):
            chunk = rows[start : start + _CHUNK_ROWS]
            voice = _Voice(f0[chunk, None], params[chunk], jitter[chunk], t, float(sample_rate), hold)
            audio[chunk] = _loudness(render(voice), params[chunk, -2])

    files = [f"embedded:{EMBEDDED_INSTRUMENTS[i]}:{p}:{j}" for i, p, j in zip(instruments, pitches, takes)]
    return pitched_dataset("embedded-notes", list(audio[:, :, None]), pitches, files, pitch_min=pitch_min,
                           pitch_max=pitch_max, sample_rate=sample_rate, slice_len=slice_len)


class _Voice:
    """Per-chunk synthesis inputs: f0 [n, 1] Hz, params u [n, 16] in [0, 1), jitter [n, 64]."""

    def __init__(self, f0, u, jitter, t, sr, hold):
        self.f0, self.u, self.jitter = f0, u, jitter
        self.t = t[None, :]
        self.sr, self.hold = sr, hold
        self.limit = 0.45 * sr  # every partial stays below this (and so below Nyquist)

    def uniform(self, column: int, low: float, high: float) -> np.ndarray:
        """Parameter `column` mapped to [low, high), shape [n, 1]."""
        return low + (high - low) * self.u[:, column : column + 1]

    def release(self) -> np.ndarray:
        """1 while the note is held, then an exponential release (40-150 ms time constant)."""
        tau = self.uniform(13, 0.04, 0.15)
        return np.exp(-np.maximum(self.t - self.hold, 0.0) / tau)

    def attack(self, seconds) -> np.ndarray:
        return np.minimum(self.t / seconds, 1.0)

    def cycles(self, vib_rate=None, vib_depth=None, vib_delay=None) -> np.ndarray:
        """Phase in cycles [n, T] of f0, with optional vibrato that fades in after vib_delay."""
        if vib_rate is None:
            return self.f0 * self.t
        fade = np.clip((self.t - vib_delay) / 0.3, 0.0, 1.0)
        freq = self.f0 * (1.0 + vib_depth * fade * np.sin(2 * np.pi * vib_rate * self.t))
        return np.cumsum(freq, axis=1) / self.sr

    def harmonic_limit(self, max_ratio=1.0) -> np.ndarray:
        """Highest harmonic number [n, 1] whose frequency (times max_ratio) is below the limit."""
        k = np.floor(self.limit / (self.f0 * max_ratio)).astype(np.int64)
        return np.clip(k, 1, _MAX_HARMONICS)


class _TableReader:
    """Reads per-note wavetables at a shared phase with linear interpolation."""

    def __init__(self, cycles: np.ndarray):
        n = cycles.shape[0]
        pos = (cycles - np.floor(cycles)) * _TABLE_SIZE
        index = np.minimum(pos.astype(np.int64), _TABLE_SIZE - 1)
        self.weight = (pos - index).astype(np.float32)
        # Flat indices into an [n, TABLE_SIZE + 1] table (last column repeats the first).
        self.index = index + (np.arange(n) * (_TABLE_SIZE + 1))[:, None]

    def read(self, amps: np.ndarray) -> np.ndarray:
        """sum_k amps[:, k-1] * sin(2 pi k cycles), float32 [n, T]."""
        flat = _wavetable(amps).reshape(-1)
        low = flat[self.index]
        high = flat[self.index + 1]
        return low + self.weight * (high - low)


def _wavetable(amps: np.ndarray) -> np.ndarray:
    """One period of sum_k amps[:, k-1] sin(k x) per row via an inverse FFT, [n, TABLE_SIZE + 1]."""
    n, k = amps.shape
    spectrum = np.zeros((n, _TABLE_SIZE // 2 + 1), dtype=np.complex128)
    # irfft maps coefficient -i*a*L/2 at bin k to a*sin(2 pi k j / L).
    spectrum[:, 1 : k + 1] = -0.5j * _TABLE_SIZE * amps
    table = np.fft.irfft(spectrum, n=_TABLE_SIZE, axis=1).astype(np.float32)
    return np.concatenate([table, table[:, :1]], axis=1)


def _harmonic_numbers(kmax: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k = 1..K as [1, K], mask [n, K] of harmonics under each note's limit)."""
    k = np.arange(1, int(kmax.max()) + 1)[None, :]
    return k, k <= kmax


def _render_pluck(v: _Voice) -> np.ndarray:
    """Plucked string: octave bands of harmonics, each decaying faster than the one below."""
    pick = v.uniform(0, 0.08, 0.3)  # pluck position: harmonics at its nodes are missing
    tau0 = v.uniform(1, 0.8, 2.5) * (262.0 / v.f0) ** 0.3  # low strings ring longer
    damp_hz = v.uniform(2, 600.0, 1800.0)
    k, mask = _harmonic_numbers(v.harmonic_limit())
    amps = np.where(mask, np.abs(np.sin(np.pi * k * pick)) / k, 0.0)
    reader = _TableReader(v.cycles())
    out = np.zeros((v.f0.shape[0], v.t.shape[1]), dtype=np.float32)
    lo = 1
    while lo <= k.shape[1]:
        # Fixed bands [lo, 2 lo) keep a note independent of the other notes in its chunk.
        band = np.where((k >= lo) & (k < 2 * lo), amps, 0.0)[:, : 2 * lo - 1]
        centre = math.sqrt(lo * (2 * lo - 1)) * v.f0
        # String losses grow with frequency: one decay per octave band is close enough.
        rate = (1.0 + (centre / damp_hz) ** 2) / tau0
        out += reader.read(band) * np.exp(-v.t * rate).astype(np.float32)
        lo *= 2
    return out * v.attack(0.002) * v.release()


def _render_bowed(v: _Voice) -> np.ndarray:
    """Bowed string: bright sawtooth-like spectrum, slow attack, delayed vibrato."""
    attack = v.uniform(0, 0.08, 0.25)
    rate, depth, delay = v.uniform(1, 4.5, 6.5), v.uniform(2, 0.003, 0.008), v.uniform(3, 0.2, 0.5)
    bright = v.uniform(4, 1500.0, 4500.0)
    k, mask = _harmonic_numbers(v.harmonic_limit(1.0 + depth))
    # A random body colour on the upper harmonics; the fundamental stays the loudest.
    colour = np.exp(0.25 * np.where(k >= 3, v.jitter[:, np.arange(k.shape[1]) % v.jitter.shape[1]], 0.0))
    amps = np.where(mask, colour * np.exp(-k * v.f0 / bright) / k, 0.0)
    swell = 1.0 + v.uniform(5, 0.0, 0.1) * np.sin(2 * np.pi * v.uniform(6, 0.3, 0.8) * v.t)
    tone = _TableReader(v.cycles(rate, depth, delay)).read(amps)
    return tone * (v.attack(attack) * swell * v.release())


_FREE_BAR = np.array([1.0, 2.76, 5.40, 8.93])
_TUNED_BAR = np.array([1.0, 4.0, 10.0, 0.0])  # 0 = unused partial


def _render_mallet(v: _Voice) -> np.ndarray:
    """Struck bar: a few inharmonic partials with their own decays, optional tremolo."""
    ratios = np.where(v.u[:, 0:1] < 0.5, _FREE_BAR, _TUNED_BAR)
    ratios = ratios * np.concatenate([np.ones_like(v.f0), 1.0 + 0.02 * (v.u[:, 1:4] - 0.5)], axis=1)
    levels = np.array([1.0, 0.45, 0.2, 0.1]) * (0.6 + 0.8 * v.u[:, 4:8])
    levels[:, 0] = 1.0  # the fundamental is the pitch we label
    freqs = v.f0 * ratios
    levels = np.where((ratios > 0) & (freqs < v.limit), levels, 0.0)
    tau1 = v.uniform(8, 0.8, 2.5) * (262.0 / v.f0) ** 0.3
    out = np.zeros((v.f0.shape[0], v.t.shape[1]), dtype=np.float32)
    for p in range(ratios.shape[1]):
        if not np.any(levels[:, p]):
            continue
        cycles = freqs[:, p : p + 1] * v.t
        partial = np.sin((2 * np.pi) * (cycles - np.floor(cycles))).astype(np.float32)
        # Higher partials of a bar die away faster.
        decay = np.exp(-v.t * (np.maximum(ratios[:, p : p + 1], 1.0) ** 0.8 / tau1)).astype(np.float32)
        out += levels[:, p : p + 1].astype(np.float32) * partial * decay
    tremolo = np.where(v.u[:, 9:10] < 0.5, v.uniform(10, 0.2, 0.45), 0.0)
    motor = 1.0 - tremolo * 0.5 * (1.0 - np.cos(2 * np.pi * v.uniform(11, 4.0, 7.0) * v.t))
    return out * (v.attack(0.001) * motor * v.release())


def _render_reed(v: _Voice) -> np.ndarray:
    """Reed: square-ish (odd harmonics 1/k) with a little of the even ones, slight vibrato."""
    even = v.uniform(0, 0.05, 0.3)
    bright = v.uniform(1, 1200.0, 4000.0)
    attack = v.uniform(2, 0.02, 0.07)
    rate, depth = v.uniform(3, 4.0, 6.0), v.uniform(4, 0.0, 0.003)
    k, mask = _harmonic_numbers(v.harmonic_limit(1.0 + depth))
    amps = np.where(k % 2 == 1, 1.0, even) * np.exp(-k * v.f0 / bright) / k
    amps = np.where(mask, amps, 0.0)
    crescendo = 0.85 + 0.15 * np.minimum(v.t / v.hold, 1.0)
    tone = _TableReader(v.cycles(rate, depth, 0.0)).read(amps)
    return tone * (v.attack(attack) * crescendo * v.release())


_RENDERERS = (_render_pluck, _render_bowed, _render_mallet, _render_reed)


def _loudness(raw: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Scale each row to a random peak of 0.3-0.9, float32."""
    peak = np.max(np.abs(raw), axis=1, keepdims=True) + 1e-12
    return (raw * ((0.3 + 0.6 * u[:, None]) / peak)).astype(np.float32)

