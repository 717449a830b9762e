"""Several hosts: two processes joined by jax.distributed train exactly like one process."""

import socket
import subprocess
import sys

import jax
import numpy as np

from conftest import ROOT, child_env
from gan_jax import load

# Each worker simulates a host with 2 CPU devices; the mesh spans all processes' devices.
WORKER = """
import sys
import jax
jax.config.update("jax_num_cpu_devices", int(sys.argv[4]))
jax.config.update("jax_disable_most_optimizations", True)
pid, n, port, _, workdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
if n > 1:
    jax.distributed.initialize(f"localhost:{port}", num_processes=n, process_id=pid)
import configs
from gan_jax import config as C, train as T
_, cfg = configs.get_config("wavegan", "small")
cfg = C.override_all(cfg, [(k, str(v)) for k, v in {
    "model.dim": 2, "train.batch_size": 8, "train.n_critic": 2, "train.steps": 2,
    "train.ckpt_every": 2, "data.embedded_per_class": 2, "train.optimizer": "rmsprop",
    "train.lr": "1e-3"}.items()])
r = T.train(cfg, workdir, progress=False)
assert jax.device_count() == 4 and r.step == 2, (jax.device_count(), r.step)
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _launch(pid, n, port, devices, workdir):
    return subprocess.Popen([sys.executable, "-c", WORKER, str(pid), str(n), str(port),
                             str(devices), str(workdir)], cwd=ROOT, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_processes_equal_one_process(tmp_path):
    port = _free_port()
    procs = [_launch(i, 2, port, 2, tmp_path / "two") for i in range(2)]
    single = _launch(0, 1, port, 4, tmp_path / "one")
    for p in procs + [single]:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    a, _ = load(tmp_path / "one")
    b, _ = load(tmp_path / "two")
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_allclose(x, y, atol=1e-6, rtol=1e-6)
