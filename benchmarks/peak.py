"""This machine's f32 matmul throughput, the yardstick every time in the docs is quoted at.

    uv run python benchmarks/peak.py

Prints one JSON object. Scale a quoted time by (its peak / yours): a step quoted at 1.5 s
where the peak was 193 GFLOP/s takes about 4.5 s where it is 65.
"""

import datetime
import json
import platform
import statistics
import time

import jax
import jax.numpy as jnp


def median_time(fn, repeats):
    """Median wall time in seconds of `repeats` calls of fn (which must block until done)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def timeit(fn, repeats):
    """Median seconds of `repeats` calls after one compile-and-warm-up call."""
    fn()
    return median_time(fn, repeats)


def matmul_peak(n=2048, repeats=10):
    """FLOP/s of a jitted f32 n x n matmul on the default device."""
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    sec = timeit(lambda: f(a).block_until_ready(), repeats)
    return 2 * n ** 3 / sec


def machine(peak) -> dict:
    """What the figures were measured on, for the JSON of every benchmark."""
    return {"matmul_peak_gflops": round(peak / 1e9, 1),
            "devices": [str(d) for d in jax.devices()], "backend": jax.default_backend(),
            "jax": jax.__version__, "python": platform.python_version(),
            "date": datetime.date.today().isoformat()}


if __name__ == "__main__":
    print(json.dumps(machine(matmul_peak())))
