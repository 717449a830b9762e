"""Train-step and generation speed of a model at its reference size; prints one JSON object.

    uv run python benchmarks/bench_models.py --model wavegan [--preset reference|small]
        [--impl phase|xla] [--batch N]

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
from gan_jax import sampling  # noqa: E402
from gan_jax import train as T  # noqa: E402


def dataset_stats(cfg):
    """The representation's dataset statistics, from a small embedded dataset."""
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, embedded_per_class=4))
    stats = T.get_model(cfg.model_name).compute_stats(cfg.model, T.load_data(cfg))
    return jax.tree.map(jnp.asarray, stats)


def step_time(cfg, mesh, stats, n_critic, repeats, stage=None):
    """(seconds per step, XLA's FLOPs per step, the state after it) at `stage`."""
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
    compiled = step.lower(state[0], real, stats).compile()   # run this very executable
    flops = compiled.cost_analysis()
    flops = (flops[0] if isinstance(flops, list) else flops).get("flops", float("nan"))

    def run():
        state[0], metrics = compiled(state[0], real, stats)
        jax.block_until_ready(metrics)

    return timeit(run, repeats), flops, state[0]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="wavegan")
    p.add_argument("--preset", default="reference", help="a preset of configs/<model>.py")
    p.add_argument("--impl", default="phase", help="model.conv_impl: phase or xla")
    p.add_argument("--batch", type=int, help="default: the preset's")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()

    _, cfg = configs.get_config(args.model, args.preset)
    batch = args.batch or cfg.train.batch_size
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, conv_impl=args.impl),
                              train=dataclasses.replace(cfg.train, batch_size=batch))
    mesh = T.make_mesh()
    peak = matmul_peak()
    stats = dataset_stats(cfg)
    t1, _, state = step_time(cfg, mesh, stats, 1, args.repeats)
    t5, f5, _ = step_time(cfg, mesh, stats, 5, args.repeats)
    d_step = (t5 - t1) / 4
    gen = sampling.make_generator(cfg, T.generator_item(cfg, state), stats, step=0)
    key = jax.random.key(0)
    n = 64
    t_gen = timeit(lambda: sampling.sample(gen, key, n=n).block_until_ready(), args.repeats + 1)
    out = {
        "benchmark": "train_step_and_generation",
        "model": args.model, "preset": args.preset, "conv_impl": args.impl, "batch": batch,
        "slice_len": cfg.model.slice_len, "dim": cfg.model.dim,
        "iteration_s": round(t5, 3), "d_step_s": round(d_step, 3), "g_step_s": round(t1 - d_step, 3),
        "generate_ms_per_clip": round(1e3 * t_gen / n, 3),
        "iteration_gflop": round(f5 / 1e9, 1),
        "iteration_gflops_achieved": round(f5 / t5 / 1e9, 1),
        "mfu": round(f5 / t5 / peak, 3),
        **machine(peak),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
