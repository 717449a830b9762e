"""A static HTML page to listen to and look at generated clips: `write_gallery`.

The folder it writes holds, for clip i, ``clip_{i:04d}.wav`` (16-bit PCM) and
``clip_{i:04d}.png`` (its log-magnitude spectrogram: frequency up, time across, one band
per channel, top = channel 0), ``index.html`` (an audio player and the picture per clip,
in sections when the clips have groups, e.g. one per pitch, and a table of scores when
given) and ``scores.json``. The page links only to those files by relative names, loads
nothing else (no scripts, no fonts, no CDN), and works opened from disk (file://).

Pure numpy + pillow + soundfile: no JAX, so pages can be built anywhere.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gan_jax import files

INDEX = "index.html"
SCORES = "scores.json"
_OWN_FILE = re.compile(r"clip_\d{4,}\.(wav|png)|\.clip_\d{4,}\.(wav|png)\.tmp|"
                       r"index\.html|\.index\.html\.tmp|scores\.json|\.scores\.json\.tmp")
_PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Anchors of a dark-to-bright, perceptually ordered map (close to matplotlib's "inferno").
_COLORMAP = np.array([(0, 0, 4), (31, 12, 72), (85, 15, 109), (136, 34, 106), (186, 54, 85),
                      (227, 89, 51), (249, 140, 10), (249, 201, 50), (252, 255, 164)], np.float64)
DB_RANGE = 80.0          # the picture shows 0 dB (a full-scale sine) down to -80 dB
MIN_WIDTH = 256          # short clips are stretched (nearest) to at least this many pixels
MAX_FRAMES = 512         # long clips get a larger hop, so a picture is at most ~this wide


def pitch_label(pitch: int) -> str:
    """A section title for a MIDI pitch: 60 -> "MIDI 60 (C4)"."""
    pitch = int(pitch)
    return f"MIDI {pitch} ({_PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1})"


def spread_pitches(low: int, high: int, count: int = 5) -> list[int]:
    """`count` distinct MIDI pitches evenly spread over low..high, both ends included
    (fewer when the range holds fewer): (24, 84) -> [24, 39, 54, 69, 84]."""
    if high < low or count < 1:
        raise ValueError(f"need low <= high and count >= 1, got {low}..{high}, count {count}")
    return sorted({round(p) for p in np.linspace(low, high, min(count, high - low + 1))})


def pitch_grid(latents, pitches: Sequence[int]):
    """Every latent at every pitch, pitch-major (the order of a gallery's sections):
    returns (latents [P*N, ...], pitches [P*N], group labels [P*N])."""
    latents, pitches = np.asarray(latents), [int(p) for p in pitches]
    n = latents.shape[0]
    return (np.tile(latents, (len(pitches),) + (1,) * (latents.ndim - 1)),
            np.repeat(np.asarray(pitches, np.int64), n),
            [pitch_label(p) for p in pitches for _ in range(n)])


def check_gallery_dir(out_dir) -> Path:
    """The gallery folder, resolved and created, before any work goes into it.

    Refuses (ValueError, naming the folder) a folder that has files in it but is no
    gallery (no index.html); OSError when it cannot be written (a file in the way, a
    read-only disk).
    """
    path = files.user_path(out_dir)
    if path.is_dir() and not (path / INDEX).is_file() and any(path.iterdir()):
        raise ValueError(f"{path}: folder is not empty and holds no gallery ({INDEX}); "
                         "choose an empty or new folder")
    return files.writable_dir(path, "gallery folder")


def spectrogram_db(clip_T: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-magnitude STFT of one mono clip in dB re a full-scale sine, [freq, time], low
    frequencies first: Hann window of ~32 ms (a power of 2), centred frames, the Nyquist
    bin dropped."""
    n_fft = 2 ** max(6, round(math.log2(0.032 * sample_rate)))
    x = np.asarray(clip_T, np.float64)
    hop = max(n_fft // 4, math.ceil(len(x) / MAX_FRAMES))
    x = np.pad(x, n_fft // 2)                # centred frames: 1 + len // hop of them
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    window = np.hanning(n_fft + 1)[:-1]      # periodic Hann
    mag = np.abs(np.fft.rfft(frames * window, axis=-1))[:, :-1]
    mag /= window.sum() / 2                  # a full-scale sine peaks at ~1 (0 dB)
    return 20 * np.log10(np.maximum(mag, 1e-10)).T


def colorize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB [..., 3] along the colormap (linear between anchors)."""
    v = np.clip(np.nan_to_num(values), 0.0, 1.0) * (len(_COLORMAP) - 1)
    i = np.minimum(v.astype(np.int64), len(_COLORMAP) - 2)
    t = (v - i)[..., None]
    return np.round((1 - t) * _COLORMAP[i] + t * _COLORMAP[i + 1]).astype(np.uint8)


def spectrogram_image(clip, sample_rate: int):
    """A PIL RGB picture of a clip [T] or [T, C]: one spectrogram band per channel (top =
    channel 0, 2 white pixels between), frequency up, time across, 0..-80 dB on the
    colormap; height C * n_fft/2 + 2 (C - 1), width max(frames, MIN_WIDTH)."""
    from PIL import Image

    clip = np.asarray(clip)
    channels = clip[:, None] if clip.ndim == 1 else clip
    bands = []
    for c in range(channels.shape[1]):
        db = spectrogram_db(channels[:, c], sample_rate)[::-1]      # high frequencies on top
        bands.append(colorize(1.0 + db / DB_RANGE))
        if c < channels.shape[1] - 1:
            bands.append(np.full((2, db.shape[1], 3), 255, np.uint8))
    image = Image.fromarray(np.concatenate(bands), "RGB")
    if image.width < MIN_WIDTH:
        image = image.resize((MIN_WIDTH, image.height), Image.Resampling.NEAREST)
    return image


def to_pcm16(clip) -> np.ndarray:
    """float audio in [-1, 1] -> int16 on the scale soundfile reads back (q / 32768): the
    round trip is within 1/65536, and 1/32768 for +1.0 (stored as 32767)."""
    x = np.clip(np.nan_to_num(np.asarray(clip, np.float64)), -1.0, 1.0)
    return np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16)


def _jsonable(value):
    """numpy scalars/arrays -> Python; non-finite floats -> "nan"/"inf" (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def format_score(value) -> str:
    """One score as text: ints whole, floats to 4 significant digits, lists and dicts as JSON."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, str):
        return value
    return json.dumps(_jsonable(value))


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
.meta { color: #555; }
table.scores { border-collapse: collapse; margin: 1em 0; }
table.scores td, table.scores th { border: 1px solid #ccc; padding: 0.25em 0.6em; }
table.scores th { text-align: left; }
table.scores td.value { font-family: monospace; white-space: pre-wrap; max-width: 60em; }
.clips { display: flex; flex-wrap: wrap; gap: 1em; }
figure.clip { margin: 0; padding: 0.5em; background: #fff; border: 1px solid #ddd; }
figure.clip img { display: block; max-width: 100%; }
figure.clip audio { display: block; width: 100%; margin-top: 0.3em; }
figcaption { font-size: 0.85em; color: #555; }
"""


def _page(title: str, meta: str, scores, sections) -> str:
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{esc(title)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
           f"<h1>{esc(title)}</h1>", f'<p class="meta">{esc(meta)}</p>']
    if scores is not None:
        out.append('<table class="scores" id="scores">')
        out.append("<tr><th>score</th><th>value</th></tr>")
        out += [f'<tr><td>{esc(str(k))}</td><td class="value">{esc(format_score(v))}</td></tr>'
                for k, v in scores.items()]
        out.append("</table>")
    for label, clips in sections:
        out.append("<section>")
        if label is not None:
            out.append(f"<h2>{esc(label)}</h2>")
        out.append('<div class="clips">')
        for i, stem in clips:
            out += [f'<figure class="clip" id="{stem}">',
                    f'<img src="{stem}.png" alt="spectrogram of clip {i}">',
                    f'<audio controls preload="auto" src="{stem}.wav"></audio>',
                    f"<figcaption>clip {i}</figcaption>", "</figure>"]
        out += ["</div>", "</section>"]
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def write_gallery(out_dir, clips, sample_rate: int, *, title: str,
                  scores: Mapping | None = None, groups: Sequence | None = None) -> Path:
    """Writes the gallery of `clips` into `out_dir` and returns the path of its index.html.

    clips: float audio [N, T] (mono) or [N, T, C] in [-1, 1] (clipped to it).
    groups: N labels (e.g. "MIDI 60 (C4)"): one section per label, in order of first
      appearance, the clips in each in their order; None: one section.
    scores: a flat dict name -> number or string, shown as a table at the top and written
      as scores.json; other values (lists, dicts) are shown as JSON text.
    The folder is created; one that holds other files but no gallery is refused
    (`check_gallery_dir`); a previous gallery is overwritten, its files that the new one
    does not use removed. Every file is written under a temporary name and renamed.
    """
    import soundfile as sf

    clips = np.asarray(clips)
    if clips.ndim not in (2, 3) or clips.shape[0] < 1 or clips.shape[1] < 1:
        raise ValueError(f"clips must be [N, T] or [N, T, C] with N, T >= 1, got shape "
                         f"{list(clips.shape)}")
    n = clips.shape[0]
    if groups is not None and len(groups) != n:
        raise ValueError(f"groups: {len(groups)} labels for {n} clips")
    if scores is not None and not isinstance(scores, Mapping):
        raise ValueError(f"scores must be a dict name -> value, got {type(scores).__name__}")
    sample_rate = int(sample_rate)
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be >= 1, got {sample_rate}")
    out_dir = check_gallery_dir(out_dir)

    stems = [f"clip_{i:04d}" for i in range(n)]
    for stem, clip in zip(stems, clips, strict=True):
        files.replace_atomically(out_dir / f"{stem}.wav", lambda tmp, clip=clip: sf.write(
            tmp, to_pcm16(clip), sample_rate, subtype="PCM_16", format="WAV"))
        files.replace_atomically(out_dir / f"{stem}.png", lambda tmp, clip=clip: spectrogram_image(
            clip, sample_rate).save(tmp, format="PNG"))
    if scores is not None:
        text = json.dumps(_jsonable(scores), indent=2) + "\n"
        files.replace_atomically(out_dir / SCORES, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    sections: dict = {}
    for i, stem in enumerate(stems):
        label = None if groups is None else str(groups[i])
        sections.setdefault(label, []).append((i, stem))
    channels = 1 if clips.ndim == 2 else clips.shape[2]
    meta = (f"{n} clip{'s' * (n != 1)} of {clips.shape[1] / sample_rate:.3g} s at {sample_rate} Hz"
            + (f", {channels} channels" if channels > 1 else ""))
    page = _page(str(title), meta, scores, sections.items())
    index = out_dir / INDEX
    files.replace_atomically(index, lambda tmp: tmp.write_text(page, encoding="utf-8"))

    keep = {INDEX, *(f"{s}.{ext}" for s in stems for ext in ("wav", "png"))}
    keep |= {SCORES} if scores is not None else set()
    for stale in out_dir.iterdir():   # what a previous, larger gallery left
        if stale.name not in keep and _OWN_FILE.fullmatch(stale.name) and stale.is_file():
            stale.unlink()
    return index
