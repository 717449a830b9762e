"""Every orbax call in one place (a later move to orbax's v1 API touches only this file).

A checkpoint holds three items:
- `state`: the full `GANState` (both networks, both optimisers, the key, the step);
- `generator`: what sampling needs and nothing else -- G's parameters (the EMA ones
  when the run keeps an EMA) and G's other variables (batch-norm statistics);
- `meta`: JSON with the step, the resolved config and the dataset statistics of the
  model's representation (SpecGAN's moments; small, and exact through JSON).
orbax writes each step to a temporary folder and renames it when complete, so a save cut
short (SIGKILL, a full disk) never leaves a half-written checkpoint behind: the next start
removes the temporary folder and resumes from the newest complete step. Saves are
synchronous: when `save` returns the checkpoint is on disk, and a failure is raised by the
call that caused it (an async save reports it one save later, through absl tracebacks).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jax
import orbax.checkpoint as ocp

# A write that fails half-way (the disk fills during a save) makes orbax log absl ERROR
# records with tracebacks from its worker threads, asyncio log its failed tasks, and
# tensorstore print a traceback for each write still in flight when orbax's event loop
# closes, on top of the exception raised. That exception becomes one clear line (SaveError);
# the rest is silenced (`_captured_stderr`).
_NOISY_LOGGERS = ("absl", "asyncio", "concurrent.futures")


class SaveError(OSError):
    """A checkpoint could not be written (a full disk, ...); str() is one line."""


def _path_name(path) -> str:
    """A pytree path as orbax names its arrays: keys, attribute names and indices joined by '.'."""
    parts = (getattr(k, "key", getattr(k, "name", getattr(k, "idx", None))) for k in path)
    return ".".join(str(p) for p in parts)


class Checkpoints:
    def __init__(self, directory: Path, keep: int = 3, read_only: bool = False):
        """`directory`: an absolute path (`files.user_path`), as orbax requires. `read_only`
        (sampling) neither creates nor cleans anything, so a run on a read-only disk loads."""
        self.directory = Path(directory)
        if read_only:   # (orbax's own read_only option logs warnings on every load)
            options = ocp.CheckpointManagerOptions(create=False)
        else:
            options = ocp.CheckpointManagerOptions(
                create=True, cleanup_tmp_directories=True, enable_async_checkpointing=False,
                preservation_policy=ocp.checkpoint_managers.LatestN(keep))
        self._quiet = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        handlers = {"state": ocp.StandardCheckpointHandler(),
                    "generator": ocp.StandardCheckpointHandler(),
                    "meta": ocp.JsonCheckpointHandler()}
        self._mngr = ocp.CheckpointManager(str(self.directory), options=options,
                                           item_handlers=handlers)

    def latest_step(self) -> int | None:
        return self._mngr.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._mngr.all_steps())

    def save(self, step: int, state, generator, meta: dict) -> None:
        """Writes step `step`, or raises SaveError: up front when the disk has no room for it,
        else when the write fails, after removing the partial folder."""
        need = sum(getattr(x, "nbytes", 0) for x in jax.tree.leaves((state, generator)))
        need = int(need * 1.05) + (1 << 20)
        free = shutil.disk_usage(self.directory).free
        if free < need:
            raise SaveError(f"no space left on the disk: it needs about {need / 2**20:.0f} MB, "
                            f"{free / 2**20:.0f} MB are free")
        error = None
        with _captured_stderr() as failed:
            try:
                self._mngr.save(step, force=True, args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state),
                    generator=ocp.args.StandardSave(generator),
                    meta=ocp.args.JsonSave(meta)))
            except Exception as e:   # OSError, or tensorstore's ValueError("RESOURCE_EXHAUSTED")
                failed()
                # Writes still in flight can fail later still, and asyncio logs each failed
                # task when it is collected, however late: these loggers stay quiet.
                self._quiet = {}
                error = e
        if error is not None:
            self._remove_partial(step)
            raise SaveError(_reason(error)) from error

    def _remove_partial(self, step: int, tries: int = 20) -> None:
        """Removes what the failed save of `step` wrote. Its writer threads may still be
        creating files (seen on a loaded CPU), so it repeats until the folder stays gone."""
        for _ in range(tries):
            partial = list(self.directory.glob(f"{step}.orbax-checkpoint-tmp*"))
            if not partial:
                return
            for tmp in partial:
                shutil.rmtree(tmp, ignore_errors=True)
            time.sleep(0.2)

    def restore(self, step: int, abstract_state):
        """Returns (state, meta) to resume training; abstract leaves carry the target sharding."""
        self._check_shapes(step, "state", abstract_state)
        r = self._mngr.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()))
        return r.state, r.meta

    def restore_generator(self, step: int, abstract_generator):
        """Only what sampling needs: (generator, meta); neither D nor optimiser state is read."""
        self._check_shapes(step, "generator", abstract_generator)
        r = self._mngr.restore(step, args=ocp.args.Composite(
            generator=ocp.args.StandardRestore(abstract_generator),
            meta=ocp.args.JsonRestore()))
        return r.generator, r.meta

    def _check_shapes(self, step: int, item: str, abstract) -> None:
        """Raises ValueError naming the first array whose stored shape differs from `abstract`.

        Checked up front from the metadata: a failing orbax restore leaves its other array
        reads running and spills tracebacks at interpreter exit.
        """
        leaves = jax.tree_util.tree_leaves_with_path(abstract)
        # Typed PRNG keys are stored as their key data: their shapes never depend on a config.
        is_key = lambda leaf: jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)
        keys = {_path_name(path) for path, leaf in leaves if is_key(leaf)}
        wanted = {_path_name(path): tuple(leaf.shape) for path, leaf in leaves if not is_key(leaf)}
        stored = {leaf.name: tuple(leaf.shape)
                  for leaf in jax.tree.leaves(self._mngr.item_metadata(step)[item].tree)
                  if leaf.name not in keys}
        for name in sorted(set(stored) | set(wanted)):
            if name not in wanted:
                raise ValueError(f"{item}.{name}: in the checkpoint but not in the model its "
                                 f"config builds (saved by another version of gan_jax?)")
            if name not in stored:
                raise ValueError(f"{item}.{name}: the model needs it (shape {wanted[name]}) and "
                                 f"the checkpoint has none (saved by another version of gan_jax?)")
            if stored[name] != wanted[name]:
                raise ValueError(f"{item}.{name}: the checkpoint has shape {stored[name]}, "
                                 f"the config needs {wanted[name]}")

    def close(self) -> None:
        self._mngr.close()
        for name, level in self._quiet.items():
            logging.getLogger(name).setLevel(level)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@contextlib.contextmanager
def _captured_stderr(grace: float = 0.5):
    """Sends file descriptor 2 to a temporary file for the block. Yields `failed()`: when
    called, what was captured is dropped, after `grace` seconds for the writes still in
    flight; otherwise it is written to stderr after the block (orbax's warnings)."""
    dropped = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield lambda: dropped.append(True)
        finally:
            if dropped:
                time.sleep(grace)
                gc.collect()   # asyncio logs its failed tasks when they are collected: now
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if not dropped:
                capture.seek(0)
                sys.stderr.write(capture.read().decode(errors="replace"))


def _reason(e: Exception) -> str:
    """One line for a failed write: the OS error if there is one (tensorstore puts its code
    in the message), else the message's first line."""
    code = getattr(e, "errno", None)
    match = re.search(r"os_error_code='(\d+)'", str(e))
    if match:
        code = int(match.group(1))
    if code:
        return os.strerror(code)
    first = (str(e).splitlines() or [type(e).__name__])[0]
    return first if len(first) <= 200 else first[:200] + "..."
