"""Generate audio from a trained run.

    python sample.py --workdir DIR --n 16                  # 16 clips -> DIR/samples/
    python sample.py --workdir DIR --label 7 --n 8         # a class-conditional run: "seven"
    python sample.py --workdir DIR --pitch 60 --n 8        # GANSynth: 8 timbres at middle C
    python sample.py --workdir DIR --pitch C3,E3,G3 --n 4  # each timbre at every pitch
    python sample.py --workdir DIR --interpolate 9 --pitch 60   # timbre morph in 9 steps
    python sample.py --workdir DIR --midi song.mid --out song.wav
    python sample.py --workdir DIR --gallery page/          # open page/index.html in a browser
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
    p.add_argument("--truncation", type=float, metavar="PSI",
                   help="scale the drawn latents by PSI in (0, 1]: clearer, less varied clips "
                        "(default: the run's `truncation`, 1 = off)")
    p.add_argument("--precision", choices=("f32", "bf16"),
                   help="G's compute dtype (default: the run's train.precision)")
    p.add_argument("--label", type=int, help="class-conditional runs (model.num_classes): every "
                                             "clip of this class, e.g. the digit of an FSDD "
                                             "run (default: random classes)")
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
    g = p.add_argument_group("gallery")
    g.add_argument("--gallery", metavar="DIR",
                   help="write the clips as a web page instead of plain files: DIR/index.html "
                        "with a player and a spectrogram per clip, and the clips as "
                        "DIR/clip_NNNN.wav. GANSynth: each of the --n timbres at every --pitch "
                        "(default: 5 pitches across the model's range), one section per pitch. "
                        "DIR must be new, empty or a previous gallery (overwritten); not with "
                        "--out or --midi")
    g.add_argument("--classifier", metavar="CLS_DIR",
                   help="--gallery: score the clips with this trained classifier and show the "
                        "scores as a table at the top of the page (and in DIR/scores.json)")
    args = p.parse_args(argv)
    from gan_jax.signals import run_stopping_cleanly

    # Ctrl-C: a clean stop; every file written is complete.
    return run_stopping_cleanly(lambda stop: run(args, stop), "interrupted")


def run(args, stop) -> int:
    import warnings

    import jax

    warnings.formatwarning = lambda message, *_, **__: f"warning: {message}\n"

    from gan_jax import files, gallery, load, midi, sampling

    key = jax.random.key(args.seed)
    with stop.interruptible():   # imports are done: a stop request may interrupt now
        try:
            check_args(args)
            pitches = parse_pitches(args.pitch) if args.pitch else None
            workdir = files.user_path(args.workdir)
            notes = midi.parse_midi(args.midi) if args.midi else None
            out, names = targets(args, workdir, pitches)
            params, cfg = load(workdir, step=args.step)
            if args.precision:
                params = sampling.with_precision(params, args.precision)
            if args.truncation is not None:
                params = sampling.with_truncation(params, args.truncation)
                cfg = params.config
            if args.gallery:   # before the work, not after
                gallery.check_gallery_dir(out)
            else:
                files.writable_dir(names[0].parent, "output folder")
            if args.midi:
                clips = [sampling.render_midi(params, notes, key, out_of_range=args.out_of_range,
                                              secs_per_instrument=args.secs_per_instrument,
                                              batch=args.batch, progress=True)]
                if not clips[0].size:
                    raise ValueError(f"{args.midi}: no notes to render")
            else:
                k_z, k_gen = jax.random.split(key)
                z, pitches, groups = latents(args, cfg, k_z, pitches)
                clips = sampling.generate(params, k_gen, z, pitches, args.batch,
                                          progress=len(z) > args.batch, label=args.label)
            if args.gallery:
                index = write_gallery(args, out, workdir, cfg, clips, pitches, groups)
                print(f"wrote {len(clips)} clip(s) at {cfg.data.sample_rate} Hz to the gallery "
                      f"{index}", file=sys.stderr)
                return 0
            write_wavs(names, clips, cfg.data.sample_rate)
        except (ValueError, OSError) as e:   # MidiError and bad pitches are ValueErrors
            print(f"error: {e}", file=sys.stderr)
            return 2
    where = names[0] if args.midi else out
    print(f"wrote {len(names)} file(s) at {cfg.data.sample_rate} Hz to {where}", file=sys.stderr)
    return 0


def check_args(args) -> None:
    """ValueError for option combinations that cannot work, before anything is loaded."""
    if args.n < 1 or args.batch < 1:
        raise ValueError("--n and --batch must be >= 1")
    if args.label is not None and (args.pitch or args.midi):
        raise ValueError("--label is for class-conditional WaveGAN/SpecGAN runs; drop --pitch/--midi")
    if args.midi and (args.pitch or args.interpolate):
        raise ValueError("--midi takes its pitches from the file; drop --pitch/--interpolate")
    if args.gallery and (args.out or args.midi):
        raise ValueError("--gallery holds the wav files itself and shows generated clips; "
                         "drop --out/--midi")
    if args.classifier and not args.gallery:
        raise ValueError("--classifier scores the clips of a gallery; add --gallery DIR")
    if args.classifier:
        from gan_jax import classifier
        classifier.check_folder(args.classifier)


def targets(args, workdir, pitches):
    """(output folder or file, the wav paths to write; [] for a gallery). FileExistsError
    when files would be overwritten without --force."""
    from gan_jax import files

    if args.gallery:   # a previous gallery is overwritten, other files refused
        return files.user_path(args.gallery), []
    if args.midi:
        out = files.user_path(args.out) if args.out else workdir / f"{Path(args.midi).stem}.wav"
        names = [out]
    else:
        out = files.user_path(args.out) if args.out else workdir / "samples"
        stem = "interp" if args.interpolate else "sample"
        names = [out / (f"{stem}_{i:04d}" + (f"_p{q}" if pitches else "") + ".wav")
                 for i in range(args.interpolate or args.n) for q in (pitches or [None])]
    clash = [f for f in names if f.exists()]
    if clash and not args.force:
        raise FileExistsError(f"{clash[0]} exists ({len(clash)} files would be overwritten); "
                              "pass --force or choose another --out")
    return out, names


def latents(args, cfg, key, pitches):
    """(z, pitch per latent or None, gallery section per latent or None)."""
    import numpy as np

    from gan_jax import gallery, sampling
    from gan_jax.models import get_model

    if args.interpolate:
        z = sampling.interpolation_latents(cfg, key, args.interpolate)
    else:
        z = sampling.random_latents(cfg, key, args.n)
    pitch_range = get_model(cfg.model_name).pitch_range
    if args.gallery and pitch_range and not pitches:
        pitches = gallery.spread_pitches(*pitch_range(cfg.model))
    if args.gallery and pitches:   # every timbre at every pitch, a section per pitch
        return gallery.pitch_grid(z, pitches)
    if pitches:   # latent i at every pitch, in the order of the file names
        return np.repeat(z, len(pitches), axis=0), np.tile(pitches, len(z)), None
    return z, None, None


def write_gallery(args, out, workdir, cfg, clips, pitches, groups):
    from gan_jax import gallery

    scores = (classifier_scores(args.classifier, clips, cfg.data.sample_rate, pitches)
              if args.classifier else None)
    title = (f"{workdir.name}: {cfg.model_name} {'interpolation' if args.interpolate else 'samples'}, "
             f"{'latest checkpoint' if args.step is None else f'step {args.step}'}, seed {args.seed}")
    return gallery.write_gallery(out, clips, cfg.data.sample_rate, title=title, scores=scores,
                                 groups=groups)


def write_wavs(names, clips, sample_rate: int) -> None:
    """16-bit wavs, each renamed into place when complete: no half-written files."""
    import soundfile as sf

    from gan_jax import files

    for name, clip in zip(names, clips, strict=True):
        files.replace_atomically(name, lambda tmp, clip=clip: sf.write(
            tmp, clip, sample_rate, subtype="PCM_16", format="WAV"))


def classifier_scores(classifier_dir: str, clips, sample_rate: int, pitches) -> dict:
    """--classifier: gan_jax.evaluate's scores of the clips (a flat dict for the page)."""
    from gan_jax import classifier, evaluate   # only this option needs them

    return evaluate.score(classifier.load_classifier(classifier_dir), clips, sample_rate, pitches=pitches)


if __name__ == "__main__":
    sys.exit(main())
