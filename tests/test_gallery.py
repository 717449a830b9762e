"""The HTML gallery (gan_jax.gallery, sample.py --gallery): its files, and the page in a real
headless Chromium (skipped, saying so, where none is installed; .ci/run installs one)."""

import html
import html.parser
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from conftest import ROOT, tiny_config
from gan_jax import gallery

SR = 16000


def tone(freq, seconds=0.5, amp=0.5, sr=SR):
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


class Links(html.parser.HTMLParser):
    """The tags of a page with a src, and its text."""

    def __init__(self, page: str):
        super().__init__()
        self.src, self.tags, self.text = [], [], []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "src" in attrs:
            self.src.append(attrs["src"])
        assert "href" not in attrs or tag == "a", f"<{tag}> links to {attrs['href']}"

    def handle_data(self, data):
        self.text.append(data)


def test_files_and_links(tmp_path):
    clips = np.stack([tone(220), tone(440), tone(880)])
    index = gallery.write_gallery(tmp_path / "new" / "page", clips, SR, title="three tones")
    assert index == tmp_path / "new" / "page" / "index.html"
    names = {p.name for p in index.parent.iterdir()}
    clip_files = {f"clip_{i:04d}.{ext}" for i in range(3) for ext in ("wav", "png")}
    assert names == clip_files | {"index.html"}            # no temporary files left, no scores
    links = Links(index.read_text(encoding="utf-8"))
    assert sorted(links.src) == sorted(clip_files)          # every file once, nothing else
    audio = [a for t, a in links.tags if t == "audio"]
    assert len(audio) == 3 and all(a["preload"] == "auto" and "controls" in a for a in audio)
    assert not any(t in ("script", "link") for t, _ in links.tags)   # self-contained
    assert "<h2>" not in index.read_text()                  # no groups: one plain section


def test_wav_round_trip_and_picture(tmp_path):
    rng = np.random.default_rng(0)
    mono = np.clip(rng.normal(0, 0.4, (2, 64000)), -1, 1).astype(np.float32)
    mono[0, :4] = [1.0, -1.0, 0.0, 0.5]
    index = gallery.write_gallery(tmp_path, mono, SR, title="noise")
    for i, clip in enumerate(mono):
        back, sr = sf.read(tmp_path / f"clip_{i:04d}.wav", dtype="float64")
        assert sr == SR and sf.info(tmp_path / f"clip_{i:04d}.wav").subtype == "PCM_16"
        np.testing.assert_allclose(back, clip, atol=1 / 32768, rtol=0)
        with Image.open(index.with_name(f"clip_{i:04d}.png")) as im:
            # n_fft 512 at 16 kHz: 256 bins (Nyquist dropped); hop 128: 1 + 64000 // 128 frames
            assert im.mode == "RGB" and im.size == (501, 256)

    stereo = np.stack([tone(300, 1.0), tone(3000, 1.0)], axis=-1)[None]   # [1, T, 2]
    gallery.write_gallery(tmp_path / "stereo", stereo, SR, title="stereo")
    back, _ = sf.read(tmp_path / "stereo" / "clip_0000.wav", dtype="float64")
    assert back.shape == (SR, 2)
    np.testing.assert_allclose(back, stereo[0], atol=1 / 32768, rtol=0)
    with Image.open(tmp_path / "stereo" / "clip_0000.png") as im:
        assert im.mode == "RGB" and im.size == (256, 2 * 256 + 2)   # 126 frames, stretched


def test_picture_has_frequency_up_time_across():
    clip = np.concatenate([np.zeros(SR // 2, np.float32), tone(2000)])   # silence, then 2 kHz
    rgb = np.asarray(gallery.spectrogram_image(clip, SR)).astype(float)
    brightness = rgb.sum(-1)
    left, right = brightness[:, :100], brightness[:, -100:]
    assert left.max() < 10                                  # silence: the darkest colour
    row = int(np.argmax(right.mean(1)))                     # 2 kHz of 8 kHz: 1/4 up
    assert abs(row - 256 * (1 - 2000 / 8000)) <= 2
    assert gallery.colorize(np.array([0.0, 1.0])).tolist() == [[0, 0, 4], [252, 255, 164]]


def test_title_escaped_scores_and_groups(tmp_path):
    clips = np.stack([tone(261.6), tone(523.3), tone(277.2)])
    title = 'A <b>&"GAN"</b>'
    scores = {"inception_score": np.float32(2.5), "n": 3, "model": "<wavegan>",
              "class_histogram": [1, 0, 2], "fid": float("nan")}
    groups = ["MIDI 60 (C4)", "MIDI 72 <C5>", "MIDI 60 (C4)"]
    index = gallery.write_gallery(tmp_path, clips, SR, title=title, scores=scores, groups=groups)
    page = index.read_text(encoding="utf-8")
    assert "<b>" not in page and "<wavegan>" not in page and "<C5>" not in page
    assert page.count(html.escape(title)) == 2              # <title> and <h1>
    links = Links(page)
    assert title in links.text
    table = re.search(r'<table class="scores" id="scores">(.*?)</table>', page, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", table)
    assert cells == ["inception_score", "2.5", "n", "3", "model", "&lt;wavegan&gt;",
                     "class_histogram", "[1, 0, 2]", "fid", "nan"]
    assert json.loads(index.with_name("scores.json").read_text()) == {
        "inception_score": 2.5, "n": 3, "model": "<wavegan>", "class_histogram": [1, 0, 2],
        "fid": "nan"}
    # One section per label, in order of first appearance, holding its clips in order.
    sections = re.findall(r"<h2>(.*?)</h2>(.*?)</section>", page, re.S)
    assert [html.unescape(h) for h, _ in sections] == ["MIDI 60 (C4)", "MIDI 72 <C5>"]
    assert re.findall(r'src="(clip_\d+).wav"', sections[0][1]) == ["clip_0000", "clip_0002"]
    assert re.findall(r'src="(clip_\d+).wav"', sections[1][1]) == ["clip_0001"]


def test_refuses_other_folders_and_overwrites_a_gallery(tmp_path):
    other = tmp_path / "my stuff"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="my stuff: folder is not empty and holds no gallery"):
        gallery.write_gallery(other, np.zeros((1, 100)), SR, title="x")
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(OSError, match="file: is a file"):
        gallery.write_gallery(a_file, np.zeros((1, 100)), SR, title="x")

    page = tmp_path / "page"
    gallery.write_gallery(page, np.stack([tone(220)] * 3), SR, title="first", scores={"a": 1})
    (page / "README.txt").write_text("a note of the user's")
    gallery.write_gallery(page, tone(440)[None], SR, title="second")
    assert sorted(p.name for p in page.iterdir()) == [
        "README.txt", "clip_0000.png", "clip_0000.wav", "index.html"]   # stale clips removed
    assert "second" in (page / "index.html").read_text()

    with pytest.raises(ValueError, match="groups: 1 labels for 2 clips"):
        gallery.write_gallery(tmp_path / "g", np.zeros((2, 100)), SR, title="x", groups=["a"])
    with pytest.raises(ValueError, match=r"\[N, T\] or \[N, T, C\]"):
        gallery.write_gallery(tmp_path / "g", np.zeros(100), SR, title="x")


def test_pitch_helpers():
    assert gallery.pitch_label(60) == "MIDI 60 (C4)" and gallery.pitch_label(25) == "MIDI 25 (C#1)"
    assert gallery.spread_pitches(24, 84) == [24, 39, 54, 69, 84]
    assert gallery.spread_pitches(60, 63) == [60, 61, 62, 63]
    z = np.arange(6.0).reshape(3, 2)
    zz, pitches, groups = gallery.pitch_grid(z, [60, 64])
    np.testing.assert_array_equal(zz, np.concatenate([z, z]))
    assert pitches.tolist() == [60, 60, 60, 64, 64, 64]
    assert groups == ["MIDI 60 (C4)"] * 3 + ["MIDI 64 (E4)"] * 3


def test_no_jax_import():
    code = "import sys, gan_jax.gallery; assert 'jax' not in sys.modules, 'jax imported'"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ the page in a browser

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
# Test-only: waits (event-driven, 8 s of the page's time at most) until every <audio> has
# data or an error and every <img> has loaded or failed, then writes what it found.
CHECK_SCRIPT = """<script>
const media = [...document.querySelectorAll("audio")], pictures = [...document.images];
const settled = (el, ok, events) => new Promise(done => {
  if (ok()) return done();
  for (const e of events) el.addEventListener(e, done, {once: true});
});
function report(reason) {
  if (document.getElementById("result")) return;
  const out = {reason, audio: media.length, img: pictures.length,
    bad_audio: media.filter(a => a.readyState < 2 || a.error).map(a => a.getAttribute("src")),
    bad_img: pictures.filter(i => !i.complete || i.naturalWidth === 0)
                     .map(i => i.getAttribute("src"))};
  const pre = document.createElement("pre");
  pre.id = "result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}
Promise.all([
  ...media.map(a => settled(a, () => a.readyState >= 2 || a.error, ["loadeddata", "error"])),
  ...pictures.map(i => settled(i, () => i.complete, ["load", "error"])),
]).then(() => report("settled"));
setTimeout(() => report("timeout"), 8000);
</script>"""


def find_browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


@pytest.fixture(scope="module")
def browser():
    path = find_browser()
    if path is None:
        pytest.skip(f"no Chromium/Chrome on PATH (looked for {', '.join(BROWSERS)}); "
                    "`apt-get install chromium` (.ci/run does) to run the browser test")
    return path


def open_in_browser(browser: str, index: Path) -> dict:
    """Opens a copy of the gallery page with CHECK_SCRIPT from file:// in headless Chromium
    and returns the script's findings."""
    page = index.with_name("browser-check.html")   # next to the page: same relative links
    page.write_text(index.read_text(encoding="utf-8").replace("</body>", CHECK_SCRIPT + "</body>"),
                    encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="gan_jax-chromium-") as profile:
        r = subprocess.run(
            [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             f"--user-data-dir={profile}", "--autoplay-policy=no-user-gesture-required",
             "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=60)
    page.unlink()
    found = re.search(r'<pre id="result">(.*?)</pre>', r.stdout, re.S)
    assert found, f"{browser} gave no result (exit {r.returncode}): {r.stderr[-3000:]}"
    return json.loads(html.unescape(found.group(1)))


def test_page_in_a_browser(tmp_path, browser):
    t0 = time.monotonic()
    mono = np.stack([tone(f, 1.0) for f in (110, 220, 440, 880, 1760, 3520)])
    index = gallery.write_gallery(tmp_path / "mono", mono, SR, title="tones <&>",
                                  scores={"score": 1.0}, groups=["low"] * 3 + ["high"] * 3)
    assert open_in_browser(browser, index) == {
        "reason": "settled", "audio": 6, "img": 6, "bad_audio": [], "bad_img": []}
    stereo = np.stack([np.stack([tone(300, 4.0), tone(600, 4.0)], -1)] * 2)   # [2, 4 s, 2]
    index = gallery.write_gallery(tmp_path / "stereo", stereo, 44100, title="stereo")
    assert open_in_browser(browser, index) == {
        "reason": "settled", "audio": 2, "img": 2, "bad_audio": [], "bad_img": []}
    # The check can fail: a page whose files are missing or broken.
    (tmp_path / "mono" / "clip_0001.wav").unlink()
    (tmp_path / "mono" / "clip_0004.wav").write_bytes(b"RIFF not really a wav")
    (tmp_path / "mono" / "clip_0002.png").unlink()
    result = open_in_browser(browser, tmp_path / "mono" / "index.html")
    assert result["bad_audio"] == ["clip_0001.wav", "clip_0004.wav"]
    assert result["bad_img"] == ["clip_0002.png"]
    assert time.monotonic() - t0 < 30


# ------------------------------------------------------------------ sample.py --gallery


def test_sample_cli_gallery(tmp_path, capsys, tiny_classifier):
    """sample.py --gallery on a tiny GANSynth run (MIDI 60-63): every timbre at every pitch,
    a section per pitch; bad folders are one line and exit 2."""
    import jax

    import sample
    from gan_jax import train as T

    run = tmp_path / "run"
    cfg = tiny_config("gansynth", **{"train.steps": 1, "train.ckpt_every": 1})
    T.train(cfg, run, progress=False, devices=jax.devices()[:1])
    page = tmp_path / "page"
    assert sample.main(["--workdir", str(run), "--gallery", str(page), "--n", "2"]) == 0
    text = (page / "index.html").read_text()
    assert re.findall(r"<h2>(.*?)</h2>", text) == [f"MIDI {p} ({n})" for p, n in
                                                  zip(range(60, 64), ("C4", "C#4", "D4", "D#4"))]
    assert len(list(page.glob("clip_*.wav"))) == 8 and not (page / "scores.json").exists()
    back, sr = sf.read(page / "clip_0000.wav")
    assert sr == cfg.data.sample_rate and back.shape == (cfg.model.slice_len,)
    assert sample.main(["--workdir", str(run), "--gallery", str(page), "--pitch", "C4,63",
                        "--n", "1", "--classifier", str(tiny_classifier[0])]) == 0   # overwritten
    text = (page / "index.html").read_text()
    assert re.findall(r"<h2>(.*?)</h2>", text) == ["MIDI 60 (C4)", "MIDI 63 (D#4)"]
    assert len(list(page.glob("clip_*.wav"))) == 2
    scores = json.loads((page / "scores.json").read_text())
    assert scores["n"] == 2 and sum(scores["histogram"]) == 2 and "is_all" in text
    if find_browser():
        assert open_in_browser(find_browser(), page / "index.html")["bad_audio"] == []
    capsys.readouterr()
    (tmp_path / "a file").write_text("")
    for args in (["--gallery", str(tmp_path / "a file")], ["--gallery", str(run)],
                 ["--gallery", str(page), "--out", str(tmp_path / "wavs")],
                 ["--classifier", str(tmp_path)]):
        assert sample.main(["--workdir", str(run), *args]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
