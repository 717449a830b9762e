"""Generate audio from a trained run.

    python sample.py --workdir DIR --n 16                  # 16 clips -> DIR/samples/
    python sample.py --workdir DIR --pitch 60 --n 8        # GANSynth: 8 timbres at middle C
    python sample.py --workdir DIR --pitch C3,E3,G3 --n 4  # each timbre at every pitch
    python sample.py --workdir DIR --interpolate 9 --pitch 60   # timbre morph in 9 steps
    python sample.py --workdir DIR --midi song.mid --out song.wav
"""

import argparse
import sys
from pathlib import Path


def parse_pitches(text: str) -> list[int]:
    """"60", "C4" or a comma list of either -> MIDI pitches."""
    from gan_jax.notes import parse_note_name

    out = []
    for token in (t.strip() for t in text.split(",") if t.strip()):
        pitch = int(token) if token.isdigit() else parse_note_name(token)
        if pitch is None:
            raise ValueError(f"--pitch: {token!r} is neither a MIDI number nor a note name like C4")
        out.append(pitch)
    if not out:
        raise ValueError("--pitch: no pitch given")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", required=True, help="a run directory written by train.py")
    p.add_argument("--n", type=int, default=16, help="number of clips (timbres, with --pitch)")
    p.add_argument("--out", help="output folder (default: <workdir>/samples); "
                                 "with --midi the .wav file (default: <workdir>/<midi name>.wav)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--step", type=int, help="checkpoint step (default: the latest)")
    p.add_argument("--batch", type=int, default=64, help="clips generated per call")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    g = p.add_argument_group("pitch-conditioned models (GANSynth)")
    g.add_argument("--pitch", help="MIDI pitch(es) or note names, comma-separated: every clip "
                                   "at every pitch (default: drawn from the training pitches)")
    g.add_argument("--interpolate", type=int, metavar="K",
                   help="instead of --n random clips, K steps between two random latents")
    g.add_argument("--midi", help="render this MIDI file note by note into one .wav")
    g.add_argument("--secs-per-instrument", type=float, default=6.0,
                   help="--midi: seconds between the random instruments the timbre moves through")
    g.add_argument("--out-of-range", choices=("skip", "transpose"), default="skip",
                   help="--midi: drop notes outside the model's pitch range or move them by octaves")
    args = p.parse_args(argv)
    from gan_jax.signals import run_stopping_cleanly

    # Ctrl-C: a clean stop; every file written is complete.
    return run_stopping_cleanly(lambda stop: run(args, stop), "interrupted")


def run(args, stop) -> int:
    import os
    import warnings

    import jax
    import numpy as np
    import soundfile as sf

    warnings.formatwarning = lambda message, *_, **__: f"warning: {message}\n"

    from gan_jax import files, load, midi, sampling

    key = jax.random.key(args.seed)
    with stop.interruptible():   # imports are done: a stop request may interrupt now
        try:
            if args.n < 1 or args.batch < 1:
                raise ValueError("--n and --batch must be >= 1")
            if args.midi and (args.pitch or args.interpolate):
                raise ValueError("--midi takes its pitches from the file; "
                                 "drop --pitch/--interpolate")
            pitches = parse_pitches(args.pitch) if args.pitch else None
            workdir = files.user_path(args.workdir)
            if args.midi:
                notes = midi.parse_midi(args.midi)
                default = workdir / f"{Path(args.midi).stem}.wav"
                out = files.user_path(args.out) if args.out else default
                names = [out]
            else:
                out = files.user_path(args.out) if args.out else workdir / "samples"
                count = args.interpolate or args.n
                stem = "interp" if args.interpolate else "sample"
                names = [out / (f"{stem}_{i:04d}" + (f"_p{q}" if pitches else "") + ".wav")
                         for i in range(count) for q in (pitches or [None])]
            clash = [f for f in names if f.exists()]
            if clash and not args.force:
                raise FileExistsError(f"{clash[0]} exists ({len(clash)} files would be "
                                      "overwritten); pass --force or choose another --out")
            params, cfg = load(workdir, step=args.step)
            files.writable_dir(names[0].parent, "output folder")   # before the work, not after
            if args.midi:
                clips = [sampling.render_midi(params, notes, key, out_of_range=args.out_of_range,
                                              secs_per_instrument=args.secs_per_instrument,
                                              batch=args.batch, progress=True)]
                if not clips[0].size:
                    raise ValueError(f"{args.midi}: no notes to render")
            else:
                k_z, k_gen = jax.random.split(key)
                if args.interpolate:
                    z = sampling.interpolation_latents(cfg, k_z, args.interpolate)
                else:
                    z = sampling.random_latents(cfg, k_z, args.n)
                if pitches:   # latent i at every pitch, in the order of `names`
                    z, pitches = np.repeat(z, len(pitches), axis=0), np.tile(pitches, len(z))
                clips = sampling.generate(params, k_gen, z, pitches, args.batch,
                                          progress=len(z) > args.batch)
            for name, clip in zip(names, clips, strict=True):
                tmp = name.with_name(f".{name.name}.tmp")   # renamed when complete: no half files
                sf.write(tmp, clip, cfg.data.sample_rate, subtype="PCM_16", format="WAV")
                os.replace(tmp, name)
        except (ValueError, OSError) as e:   # MidiError and bad pitches are ValueErrors
            print(f"error: {e}", file=sys.stderr)
            return 2
    where = names[0] if args.midi else out
    print(f"wrote {len(names)} file(s) at {cfg.data.sample_rate} Hz to {where}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
