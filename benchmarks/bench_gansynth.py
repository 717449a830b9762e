"""GANSynth train-step time per stage and generation speed; prints one JSON object.

    uv run python benchmarks/bench_gansynth.py [--preset reference] [--stages 0,1,...,12]
        [--precision f32|bf16]

For each stage (default: all 13) the generic jitted step of the preset (G then D, batch 8,
WGAN-GP + drift + AC) is compiled once and timed (median of --repeats calls), with the
FLOPs of XLA's cost analysis and the model FLOP utilisation against the machine's f32
matmul peak measured in the same run. Generation is timed at the last stage with the
preset's decoding (mel-IF -> ISTFT), batch --gen-batch, as seconds of 16 kHz audio
produced per second of wall time. With every stage timed, `full_schedule_h` is the
whole schedule's wall-clock estimate: each stage's step time times its G steps.
"""

import argparse
import dataclasses
import json

import jax

from bench_models import dataset_stats, step_time
from peak import machine, matmul_peak, timeit
import configs
from gan_jax import config as config_lib
from gan_jax import sampling
from gan_jax.models import gansynth
from gan_jax import train as T


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--preset", default="reference")
    p.add_argument("--stages", help="comma-separated stage ids (default: all)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--gen-batch", type=int, default=8)
    p.add_argument("--precision", default="f32", choices=("f32", "bf16"))
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    args = p.parse_args()

    _, cfg = configs.get_config("gansynth", args.preset)
    cfg = config_lib.override_all(cfg, [item.split("=", 1) for item in args.overrides])
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, precision=args.precision))
    stages = (range(cfg.model.num_stages) if args.stages is None
              else [int(s) for s in args.stages.split(",")])
    mesh = T.make_mesh()
    peak = matmul_peak()
    stats = dataset_stats(cfg)
    per_stage, state = [], None
    for stage in stages:
        sec, flops, state = step_time(cfg, mesh, stats, 1, args.repeats, stage)
        per_stage.append({"stage": stage, "precision": args.precision, "step_s": round(sec, 4),
                          "gflop": round(flops / 1e9, 2), "mfu": round(flops / sec / peak, 3)})
        print(json.dumps(per_stage[-1]), flush=True)

    # Generation with the full (last-stage) generator.
    gen = sampling.Generator(**T.generator_item(cfg, state), stats=stats, config=cfg,
                             stage=cfg.model.num_stages - 1)
    key, n = jax.random.key(0), args.gen_batch
    t_gen = timeit(lambda: sampling.sample(gen, key, n=n).block_until_ready(), args.repeats + 1)
    seconds = n * cfg.model.slice_len / cfg.model.sample_rate
    total = sum(s["step_s"] for s in per_stage)
    out = {
        "benchmark": "gansynth_stages_and_generation", "preset": args.preset,
        "precision": args.precision,
        "batch": cfg.train.batch_size, "representation": cfg.model.representation,
        "stages": per_stage,
        "mean_step_s_over_stages": round(total / len(per_stage), 4),
        "full_schedule_h": full_schedule_h(cfg, per_stage),
        "generate_batch": n, "generate_s_per_batch": round(t_gen, 4),
        "audio_seconds_per_second": round(seconds / t_gen, 1),
        **machine(peak),
    }
    print(json.dumps(out), flush=True)


def full_schedule_h(cfg, per_stage) -> float | None:
    """Hours for the whole progressive schedule at the measured step times (None unless every
    stage was timed): stage s runs (end(s) - end(s - 1)) / batch G steps."""
    times = {s["stage"]: s["step_s"] for s in per_stage}
    if not cfg.model.progressive or set(times) != set(range(cfg.model.num_stages)):
        return None
    ends = (0,) + gansynth.stage_ends(cfg.model)
    steps = [(ends[s + 1] - ends[s]) / cfg.train.batch_size for s in range(cfg.model.num_stages)]
    return round(sum(n * times[s] for s, n in enumerate(steps)) / 3600, 2)


if __name__ == "__main__":
    main()
