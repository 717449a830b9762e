"""Benchmark gan_jax.spectral against librosa doing the same work in the same process.

    uv run python benchmarks/bench_spectral.py [--batch 64] [--repeats 5]

Prints one JSON object:
  * STFT of a batch of 64 x 16384 float32 clips, for SpecGAN's framing (256/128,
    pad_end, no centring) and for a centred 2048/512 STFT (GANSynth-sized frames);
    jnp: one jitted call on the [64, T] batch; librosa: a Python loop over the 64
    clips (its usual use), plus librosa called once on the whole batch for reference.
  * Griffin-Lim, SpecGAN's setting: 256/128, 16 iterations, center=False, on the
    [64, 129, 128] magnitudes, momentum 0.99 and a random initial phase on both
    sides (librosa's defaults). librosa cannot take length=16384 here (it passes
    `length` into every in-loop ISTFT, which then re-analyses to 127 frames and
    fails), so it returns the natural 16512 samples, which we crop.
  * The machine's measured float32 matmul FLOP/s (jitted 2048 x 2048 matmul) so
    that figures can be compared across machines, plus versions, device, date.
Timings: compile/warm up first (librosa too: its overlap-add is numba-compiled),
`block_until_ready`, median of `--repeats` runs, jnp and librosa timed in
alternation (the machine may be shared);
"speedup" is librosa time / jnp time. Inputs are on the device before timing.
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import librosa
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gan_jax import spectral as sp  # noqa: E402
from peak import matmul_peak, median_time  # noqa: E402

# librosa 0.11 takes random_state=, 1.0 takes rng= (random_state deprecated).
GL_SEED_KW = "rng" if "rng" in inspect.signature(librosa.griffinlim).parameters else "random_state"
SLICE_LEN = 16384


def time_jax(fn, *args, repeats: int) -> tuple[float, float]:
    """(compile + first run seconds, median seconds of later runs) for a jitted fn."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    return first, median_time(lambda: jax.block_until_ready(fn(*args)), repeats)


def interleaved(fns: dict, repeats: int) -> dict:
    """Median seconds per (already warm) callable, timed in alternation so that
    load from other processes hits all of them alike."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def make_batch(batch: int, length: int) -> np.ndarray:
    """Harmonic notes with envelopes plus a little noise: realistic spectra, deterministic."""
    rng = np.random.default_rng(0)
    t = np.arange(length) / 16000.0
    f0 = rng.uniform(80.0, 800.0, (batch, 1))
    x = sum(0.5**k * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 6.3, (batch, 1))) for k in range(6))
    x *= np.exp(-3.0 * t) * np.minimum(1.0, t / 0.01)
    return (0.3 * x + 1e-3 * rng.standard_normal((batch, length))).astype(np.float32)


def bench_stft(x_np: np.ndarray, name: str, repeats: int, *, n_fft: int, hop: int, center: bool) -> dict:
    x = jax.device_put(x_np)
    f = jax.jit(lambda a: sp.stft(a, n_fft=n_fft, hop_length=hop, center=center))
    t0 = time.perf_counter()
    jax.block_until_ready(f(x))
    first = time.perf_counter() - t0

    def lib_loop():
        return [librosa.stft(clip, n_fft=n_fft, hop_length=hop, center=center) for clip in x_np]

    ref = np.stack(lib_loop())  # also warms librosa up
    err = float(np.max(np.abs(np.asarray(f(x)) - ref)) / np.max(np.abs(ref)))
    t = interleaved({
        "jax": lambda: jax.block_until_ready(f(x)),
        "loop": lib_loop,
        "batched": lambda: librosa.stft(x_np, n_fft=n_fft, hop_length=hop, center=center),
    }, repeats)
    t_jax, t_loop, t_batched = t["jax"], t["loop"], t["batched"]
    return {
        "name": name,
        "shape_in": list(x_np.shape),
        "shape_out": list(ref.shape),
        "n_fft": n_fft,
        "hop_length": hop,
        "center": center,
        "jax_ms": 1e3 * t_jax,
        "jax_compile_and_first_ms": 1e3 * first,
        "librosa_loop_ms": 1e3 * t_loop,
        "librosa_batched_ms": 1e3 * t_batched,
        "speedup_vs_librosa_loop": t_loop / t_jax,
        "speedup_vs_librosa_batched": t_batched / t_jax,
        "max_rel_err_vs_librosa": err,
    }


def bench_griffin_lim(x_np: np.ndarray, repeats: int, *, n_iter: int = 16, momentum: float = 0.99) -> dict:
    kw = dict(n_fft=256, hop_length=128, center=False)
    mag = jnp.abs(sp.stft(sp.pad_end(jnp.asarray(x_np), 256, 128), **kw))  # [B, 129, 128]
    mag_np = np.asarray(mag)
    key = jax.random.key(0)
    f = jax.jit(lambda m, k: sp.griffin_lim(m, n_iter=n_iter, momentum=momentum, key=k, length=SLICE_LEN, **kw))
    t0 = time.perf_counter()
    jax.block_until_ready(f(mag, key))
    first = time.perf_counter() - t0

    def lib_loop():
        return [
            librosa.griffinlim(m, n_iter=n_iter, momentum=momentum, **kw, **{GL_SEED_KW: np.random.default_rng(i)})[
                :SLICE_LEN
            ]
            for i, m in enumerate(mag_np)
        ]

    lib_loop()  # warm up: librosa's overlap-add is numba-compiled on first use
    t = interleaved({"jax": lambda: jax.block_until_ready(f(mag, key)), "librosa": lib_loop}, repeats)
    t_jax, t_lib = t["jax"], t["librosa"]

    def sc(y):
        est = jnp.abs(sp.stft(sp.pad_end(jnp.asarray(y), 256, 128), **kw))
        return float(jnp.mean(sp.spectral_convergence(mag, est)))

    return {
        "name": "griffin_lim_specgan",
        "shape_in": list(mag_np.shape),
        "n_fft": 256,
        "hop_length": 128,
        "center": False,
        "n_iter": n_iter,
        "momentum": momentum,
        "init": "random phase on both sides",
        "jax_batch_chunk": "auto (8 spectrograms per lax.map chunk on CPU)",
        "jax_ms": 1e3 * t_jax,
        "jax_compile_and_first_ms": 1e3 * first,
        "librosa_loop_ms": 1e3 * t_lib,
        "speedup_vs_librosa_loop": t_lib / t_jax,
        "spectral_convergence_jax": sc(f(mag, key)),
        "spectral_convergence_librosa": sc(np.stack(lib_loop())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    x = make_batch(args.batch, SLICE_LEN)
    flops = matmul_peak()
    stfts = [
        bench_stft(np.asarray(sp.pad_end(x, 256, 128)), "specgan_256_128_pad_end", args.repeats,
                   n_fft=256, hop=128, center=False),
        bench_stft(x, "centred_2048_512", args.repeats, n_fft=2048, hop=512, center=True),
    ]
    gl = bench_griffin_lim(x, args.repeats)
    dev = jax.devices()[0]
    out = {
        "benchmark": "gan_jax.spectral vs librosa",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "jax_version": jax.__version__,
        "librosa_version": librosa.__version__,
        "numpy_version": np.__version__,
        "python": platform.python_version(),
        "device": f"{dev.platform}:{dev.device_kind}",
        "n_devices": jax.device_count(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "matmul_f32_2048_gflops": flops / 1e9,
        "batch": args.batch,
        "repeats": args.repeats,
        "stft": stfts,
        "griffin_lim": gl,
        "aims": {
            "stft_speedup_at_least": 1.0,
            "griffin_lim_speedup_at_least": 5.0,
            "stft_met": all(s["speedup_vs_librosa_loop"] >= 1.0 for s in stfts),
            "griffin_lim_met": gl["speedup_vs_librosa_loop"] >= 5.0,
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
