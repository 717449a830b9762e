"""How fast a preset learns: train it for a step budget, score it at fixed points, draw the curve.

    uv run python benchmarks/bench_quality.py --model wavegan specgan --preset quick \\
        --data ../shared/data/fsdd/recordings --classifier cls/fsdd --png curve.png data.split=train

Each model trains in its own run folder (--workdir/<model>, resumed if it exists), in
--points equal chunks of the --steps budget (default: the preset's train.steps; the
preset's learning-rate decay stretches with it, as train.lr_decay_steps x steps /
train.steps), with any key=value config overrides; after each chunk the latest checkpoint
generates --n clips that `gan_jax.evaluate.score` scores against --classifier. One JSON
line per point (training minutes so far, IS, FD, NDB, ...; the first line is the machine,
with its matmul peak); --png draws IS and FD against training minutes, one line per model.
A run with a `truncation` below 1 is scored as it samples, and again with untruncated
latents ("untruncated" in its line).
Minutes count training only (each chunk's start-up and compilation included), not scoring.
Ctrl-C stops it (exit 130) after the current step, with a checkpoint; the same command
resumes, skipping the points the run has already passed.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import jax
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import configs  # noqa: E402
from peak import machine, matmul_peak  # noqa: E402
from gan_jax import classifier, evaluate, load, sampling  # noqa: E402
from gan_jax import config as config_lib  # noqa: E402
from gan_jax import train as T  # noqa: E402

COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))


def curve(model: str, preset: str, data, overrides, clf, workdir: Path, steps: int | None,
          points: int, n: int, pyin: bool = False):
    """Yields one dict of scores per point of `model`'s training (steps: the preset's if None)."""
    _, cfg = configs.get_config(model, preset)
    overrides = ([("data.path", data)] if data else []) + list(overrides)
    base = config_lib.override_all(cfg, overrides).train
    steps = steps or base.steps
    if base.lr_decay_steps and steps != base.steps and not any(
            key == "train.lr_decay_steps" for key, _ in overrides):
        # The preset's learning-rate schedule stretches with the budget: one that reaches 0
        # (or a third) at the end of its budget does so at the end of this one too.
        overrides.append(("train.lr_decay_steps", str(round(base.lr_decay_steps * steps / base.steps))))
    minutes = 0.0
    for k in range(1, points + 1):
        budget = round(steps * k / points)
        run_cfg = config_lib.override_all(cfg, overrides + [("train.steps", str(budget))])
        start = time.perf_counter()
        result = T.train(run_cfg, workdir, progress=False)
        minutes += (time.perf_counter() - start) / 60
        if result.interrupted is not None:   # Ctrl-C: train saved a checkpoint; stop here
            raise KeyboardInterrupt(f"{model} stopped at step {result.step}")
        if result.step > budget:   # a resumed run already past this point: its checkpoint is later
            continue
        gen, saved = load(workdir)
        scores = _score(clf, gen, n, pyin)
        if saved.truncation != 1.0:   # the papers' way too: every latent as drawn
            plain = _score(clf, sampling.with_truncation(gen, 1.0), n, pyin)
            scores["untruncated"] = {k: plain[k] for k in UNTRUNCATED if k in plain}
        yield {"model": model, "preset": preset, "step": budget, "minutes": round(minutes, 2), **scores}


UNTRUNCATED = ("is_all", "fd", "ndb", "histogram", "label_accuracy", "pitch_accuracy",
               "pyin_accuracy")


def _score(clf, gen, n: int, pyin: bool) -> dict:
    audio, asked = evaluate.generate_clips(gen, jax.random.key(0), n)
    return evaluate.score(clf, audio, gen.config.data.sample_rate, **asked,
                          pyin=pyin and "pitches" in asked)


def plot(rows: list[dict], path: Path, size=(900, 380)) -> None:
    """IS (left) and FD (right) against training minutes, a line and dots per model."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    models = sorted({r["model"] for r in rows})
    t_max = max(r["minutes"] for r in rows) or 1.0
    w, h, pad = size[0] // 2, size[1], 48
    for panel, key in enumerate(("is_all", "fd")):
        x0 = panel * w
        v_max = max(r[key] for r in rows) * 1.1 or 1.0
        box = (x0 + pad, 20, x0 + w - 20, h - pad)
        draw.rectangle(box, outline="black")
        draw.text((x0 + pad, 4), f"{key} (max {v_max / 1.1:.3g}) against minutes (max {t_max:.1f})", fill="black")
        to_xy = lambda r: (box[0] + (box[2] - box[0]) * r["minutes"] / t_max,
                           box[3] - (box[3] - box[1]) * r[key] / v_max)
        for i, model in enumerate(models):
            colour = COLOURS[i % len(COLOURS)]
            xy = [to_xy(r) for r in rows if r["model"] == model]
            if len(xy) > 1:
                draw.line(xy, fill=colour, width=2)
            for x, y in xy:
                draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
            draw.text((box[0] + 8, box[1] + 6 + 14 * i), model, fill=colour)
    img.save(path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", nargs="+", required=True)
    p.add_argument("--preset", default="small")
    p.add_argument("--data", help="training data (default: the embedded set)")
    p.add_argument("--classifier", required=True, help="folder from `evaluate.py classifier` on the same data")
    p.add_argument("--steps", type=int, help="the step budget (default: the preset's train.steps)")
    p.add_argument("--points", type=int, default=5, help="scored points along the budget")
    p.add_argument("--n", type=int, default=1000, help="clips scored per point")
    p.add_argument("--workdir", default="runs/quality", help="run folders: <workdir>/<model>")
    p.add_argument("--png", help="write the curve here")
    p.add_argument("--pyin", action="store_true",
                   help="pitched models: also check each note's pitch with librosa.pyin")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides for every model, as train.py takes them")
    args = p.parse_intermixed_args()   # key=value before and after the options alike
    overrides = [item.split("=", 1) for item in args.overrides]
    if any(len(o) != 2 for o in overrides):
        p.error("overrides must be key=value")
    clf = classifier.load_classifier(args.classifier)
    print(json.dumps(machine(matmul_peak())), flush=True)
    rows = []
    try:
        for model in args.model:
            for row in curve(model, args.preset, args.data, overrides, clf,
                             Path(args.workdir) / model, args.steps, args.points, args.n, args.pyin):
                print(json.dumps(row), flush=True)
                rows.append(row)
    except KeyboardInterrupt as e:
        print(f"interrupted{f' ({e})' if str(e) else ''}: the run folders in {args.workdir} keep "
              f"their checkpoints; run the same command to resume", file=sys.stderr)
        return 130
    finally:
        if args.png and rows:
            plot(rows, Path(args.png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
