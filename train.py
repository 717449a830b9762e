"""Train a model: `python train.py --model wavegan [--data DIR] [key=value ...]`.

Resumes automatically from --workdir; Ctrl-C saves a checkpoint and stops. Any
config key can be set with a dotted override, e.g. `train.lr=2e-4 model.dim=32`.
"""

import argparse
import logging
import sys


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                epilog="overrides: key=value or --key=value, e.g. train.batch_size=32")
    p.add_argument("--model", required=True, help="wavegan, specgan or gansynth")
    p.add_argument("--preset", default="auto",
                   help="a preset of configs/<model>.py; auto = quick on CPU, reference on GPU/TPU")
    p.add_argument("--data", help="folder of audio files; gansynth: NSynth or a folder of "
                   "pitched notes (default: the embedded dataset)")
    p.add_argument("--workdir", help="run directory (default: runs/<model>-<preset>)")
    p.add_argument("--steps", type=int, help="train until this many G steps")
    p.add_argument("--allow-config-change", action="store_true",
                   help="resume a run whose saved config differs from this one")
    p.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() first (multi-host TPU/GPU)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args, rest = p.parse_known_args(argv)
    overrides = []
    it = iter(rest)
    for item in it:
        key, eq, value = item.removeprefix("--").partition("=")
        if not eq:
            if not item.startswith("--"):
                p.error(f"expected key=value, got {item!r}")
            value = next(it, None)
            if value is None:
                p.error(f"{item} needs a value")
        overrides.append((key, value))
    return args, overrides


def main(argv=None) -> int:
    args, overrides = parse(sys.argv[1:] if argv is None else argv)
    from gan_jax.signals import run_stopping_cleanly

    # From here, Ctrl-C/SIGTERM stop cleanly: during start-up and data loading at once, once
    # training after the current step with a checkpoint; a repeated delivery is one request.
    return run_stopping_cleanly(lambda stop: run(args, overrides, stop),
                                "interrupted before training started: nothing to save")


def run(args, overrides, stop) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("gan_jax").setLevel(logging.INFO)
    import configs
    from gan_jax import config as config_lib
    from gan_jax import train

    try:
        if args.distributed:
            import jax
            jax.distributed.initialize()
        preset, cfg = configs.get_config(args.model, args.preset)
        if args.data is not None:
            overrides.insert(0, ("data.path", args.data))
        if args.steps is not None:
            overrides.insert(0, ("train.steps", str(args.steps)))
        cfg = config_lib.override_all(cfg, overrides)
        workdir = args.workdir or f"runs/{args.model}-{preset}"
        print(f"{args.model} (preset {preset}) -> {workdir}", file=sys.stderr)
        result = train.train(cfg, workdir, allow_config_change=args.allow_config_change,
                             progress=not args.no_progress, stop=stop)
    except (OSError, ValueError, train.TrainError) as e:   # ConfigError, DataError too
        print(f"error: {e}", file=sys.stderr)
        return 2
    if result.interrupted:
        print(f"stopped at step {result.step}; run the same command to resume", file=sys.stderr)
        return 130
    print(f"done: step {result.step} in {workdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
