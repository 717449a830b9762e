"""Train-step and generation speed of a model at its reference size; prints JSON lines.

    uv run python benchmarks/bench_models.py --model wavegan [--preset reference|small|quick]
        [--impl phase xla] [--precision f32 bf16] [--batch N]

One JSON line per (--impl, --precision) pair, all in one process (one peak measurement,
one set of dataset statistics).

Times, in one process: the generic train step with n_critic=5 (one iteration: 5 D + 1 G
updates) and with n_critic=1, from which the D step ((t5 - t1) / 4) and the G step
(t1 - D) follow; generation per clip (`sample`, batch of 64); and the machine's f32
matmul FLOP/s, against which the step's FLOPs (XLA's cost analysis) give the model
FLOP utilisation (MFU). Medians of --repeats runs after one compile-and-warm-up call.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import configs  # noqa: E402
from peak import machine, matmul_peak, timeit  # noqa: E402
from gan_jax import config as config_lib  # noqa: E402
from gan_jax import sampling  # noqa: E402
from gan_jax import train as T  # noqa: E402


def dataset_stats(cfg):
    """The representation's dataset statistics, from a small embedded dataset."""
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, embedded_per_class=4))
    stats = T.get_model(cfg.model_name).compute_stats(cfg.model, T.load_data(cfg))
    return jax.tree.map(jnp.asarray, stats)


def step_time(cfg, mesh, stats, n_critic, repeats, stage=None):
    """(seconds per step, XLA's FLOPs per step, the state after it) at `stage`; averaged over
    a lazy-R1 cycle."""
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, n_critic=n_critic))
    step = T.compile_step(cfg, mesh, stage)
    state = [T.create_state(cfg, mesh)]
    b = cfg.train.batch_size
    rng = np.random.default_rng(0)
    shape = (n_critic, b, cfg.model.slice_len, cfg.model.audio_channels)
    audio = rng.uniform(-1, 1, shape).astype(np.float32)
    classes = max(T.get_model(cfg.model_name).num_classes(cfg.model), 1)
    labels = rng.integers(0, classes, (n_critic, b)).astype(np.int32)
    real = T.shard_batch(mesh, (audio, labels), b)
    # As the train loop: with lazy R1, one R1 executable then r1_every - 1 plain ones.
    cycle = ([True] + [False] * (cfg.train.r1_every - 1)) if cfg.train.r1_weight else [False]
    compiled = {r1: step.lower(state[0], real, stats, r1).compile() for r1 in set(cycle)}
    flops = [compiled[r1].cost_analysis() for r1 in cycle]
    flops = sum((f[0] if isinstance(f, list) else f).get("flops", float("nan")) for f in flops)

    def run():
        for r1 in cycle:
            state[0], metrics = compiled[r1](state[0], real, stats)
        jax.block_until_ready(metrics)

    return timeit(run, repeats) / len(cycle), flops / len(cycle), state[0]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="wavegan")
    p.add_argument("--preset", default="reference", help="a preset of configs/<model>.py")
    p.add_argument("--impl", nargs="+", default=["phase"], choices=("phase", "xla"),
                   help="model.conv_impl (WaveGAN, SpecGAN)")
    p.add_argument("--precision", nargs="+", default=["f32"], choices=("f32", "bf16"),
                   help="train.precision: the compute dtype of G and D")
    p.add_argument("--batch", type=int, help="default: the preset's")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    args = p.parse_args()

    _, cfg = configs.get_config(args.model, args.preset)
    cfg = config_lib.override_all(cfg, [item.split("=", 1) for item in args.overrides])
    batch = args.batch or cfg.train.batch_size
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=batch))
    mesh = T.make_mesh()
    peak = matmul_peak()
    stats = dataset_stats(cfg)
    impls = args.impl if hasattr(cfg.model, "conv_impl") else [None]
    for impl in impls:
        model = cfg.model if impl is None else dataclasses.replace(cfg.model, conv_impl=impl)
        for precision in args.precision:
            run = dataclasses.replace(cfg, model=model, train=dataclasses.replace(
                cfg.train, precision=precision))
            out = bench(run, mesh, stats, peak, args.repeats)
            print(json.dumps({"model": args.model, "preset": args.preset, **out}), flush=True)


def bench(cfg, mesh, stats, peak: float, repeats: int) -> dict:
    """One configuration's iteration, D step, G step and generation times."""
    t1, _, state = step_time(cfg, mesh, stats, 1, repeats)
    t5, f5, _ = step_time(cfg, mesh, stats, 5, repeats)
    d_step = (t5 - t1) / 4
    gen = sampling.make_generator(cfg, T.generator_item(cfg, state), stats, step=0)
    key = jax.random.key(0)
    n = 64
    t_gen = timeit(lambda: sampling.sample(gen, key, n=n).block_until_ready(), repeats + 1)
    return {
        "benchmark": "train_step_and_generation",
        "conv_impl": getattr(cfg.model, "conv_impl", None), "precision": cfg.train.precision,
        "batch": cfg.train.batch_size, "slice_len": cfg.model.slice_len,
        "dim": getattr(cfg.model, "dim", None),
        "iteration_s": round(t5, 3), "d_step_s": round(d_step, 3), "g_step_s": round(t1 - d_step, 3),
        "generate_ms_per_clip": round(1e3 * t_gen / n, 3),
        "iteration_gflop": round(f5 / 1e9, 1),
        "iteration_gflops_achieved": round(f5 / t5 / 1e9, 1),
        "mfu": round(f5 / t5 / peak, 3),
        # The preset's whole run at this speed: train.steps iterations of n_critic D + 1 G.
        "preset_steps": cfg.train.steps,
        "preset_run_h": round(cfg.train.steps * (cfg.train.n_critic * d_step + t1 - d_step) / 3600, 2),
        **machine(peak),
    }


if __name__ == "__main__":
    main()
