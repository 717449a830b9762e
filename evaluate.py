"""Measure what a run sounds like: train a classifier once, then score runs or clip folders.

    python evaluate.py classifier --data ../shared/data/fsdd --out cls/fsdd   # digits, ~4 min on 2 cores
    python evaluate.py classifier --out cls/embedded                          # the embedded sounds
    python evaluate.py classifier --out cls/embedded8k --sample-rate 8000 --slice-len 8192
                                                     # ... as the quick presets make them (8 kHz)
    python evaluate.py classifier --pitch --data NSYNTH_DIR --out cls/pitch   # MIDI pitch of notes
    python evaluate.py classifier --pitch --data NSYNTH_DIR --out cls/pitch8k --sample-rate 8000 --slice-len 4096
                                                     # ... as GANSynth quick makes them (0.5 s, 8 kHz)
    python evaluate.py score --classifier cls/fsdd --workdir runs/wavegan-quick [--n 1000]
    python evaluate.py score --classifier cls/fsdd --audio my_clips/

`score` prints one JSON line on stdout and a readable table on stderr. IS, FD and NDB depend
on n: compare runs at the same --n. See README "Evaluating a run" for what the numbers mean.
"""

import argparse
import json
import logging
import sys


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("classifier", help="train a classifier on labelled audio and save it")
    c.add_argument("--data", help="FSDD/SC09 folder, or notes with --pitch (default: the embedded set)")
    c.add_argument("--pitch", action="store_true",
                   help="classify MIDI pitch 24-84 of notes (NSynth, note folders, embedded notes)")
    c.add_argument("--out", required=True, help="new folder to write the classifier to")
    c.add_argument("--steps", type=int, default=1500, help="training steps (default 1500)")
    c.add_argument("--width", type=int, default=8, help="channels of the first conv block")
    c.add_argument("--sample-rate", type=int, default=16000, help="the classifier's rate (Hz)")
    c.add_argument("--slice-len", type=int,
                   help="samples per clip at --sample-rate (default 16384; 64000 with --pitch)")
    c.add_argument("--pitch-shift", type=int,
                   help="--pitch: notes shifted by up to this many semitones in training, labels "
                        "moved along (default 2; 0 = off)")
    c.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score", help="score a run's generated clips or a folder of clips")
    s.add_argument("--classifier", required=True, help="folder written by `evaluate.py classifier`")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--workdir", help="a gan_jax run: its latest checkpoint generates --n clips")
    src.add_argument("--audio", help="a folder of clips (read at the classifier's rate and length)")
    s.add_argument("--step", type=int, help="--workdir: this checkpoint instead of the latest")
    s.add_argument("--n", type=int, default=1000, help="clips to score (default 1000)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--pyin", action="store_true",
                   help="pitch runs: also track each clip's pitch with librosa's pYIN (slow)")
    for q in (c, s):
        q.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    from gan_jax.signals import run_stopping_cleanly

    # Ctrl-C stops at once: a classifier is written whole at the end or not at all.
    return run_stopping_cleanly(lambda stop: run(args, stop), "interrupted: nothing written")


def run(args, stop) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("gan_jax").setLevel(logging.INFO)
    with stop.interruptible():
        from gan_jax import evaluate

        try:
            if args.command == "classifier":
                return _classifier(evaluate, args)
            return _score(evaluate, args)
        except (OSError, ValueError) as e:   # DataError too
            print(f"error: {e}", file=sys.stderr)
            return 2


def _classifier(evaluate, args) -> int:
    if args.slice_len is not None and args.slice_len < 1024:
        raise ValueError(f"--slice-len must be >= 1024 samples, got {args.slice_len}")
    if args.pitch_shift is not None and (args.pitch_shift < 0 or not args.pitch):
        raise ValueError(f"--pitch-shift needs --pitch and a value >= 0, got {args.pitch_shift}")
    given = {"slice_len": args.slice_len, "pitch_shift": args.pitch_shift}
    options = {k: v for k, v in given.items() if v is not None}
    clf = evaluate.train_and_save(args.data, args.out, pitch=args.pitch, progress=not args.no_progress,
                                  steps=args.steps, width=args.width, sample_rate=args.sample_rate,
                                  seed=args.seed, **options)
    info = clf.info
    print(f"held-out accuracy {info['heldout_accuracy']:.4f} on {info['heldout_clips']} clips "
          f"({info['heldout_source']}); temperature {clf.temperature:.3f}; saved to {args.out}",
          file=sys.stderr)
    return 0


def _score(evaluate, args) -> int:
    import jax

    from gan_jax import classifier, load

    if args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    clf = classifier.load_classifier(args.classifier)
    if args.workdir:
        gen, cfg = load(args.workdir, step=args.step)
        audio, asked = evaluate.generate_clips(gen, jax.random.key(args.seed), args.n,
                                               progress=not args.no_progress)
        scores = evaluate.score(clf, audio, cfg.data.sample_rate, **asked, pyin=args.pyin)
    else:
        scores = evaluate.score_folder(clf, args.audio, sample_rate=clf.cfg.sample_rate,
                                       slice_len=clf.cfg.slice_len, n=args.n, pyin=args.pyin)
    print(json.dumps(scores))
    print(evaluate.format_table(scores), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
