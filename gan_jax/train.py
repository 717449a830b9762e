"""The training loop around the generic step (`step.py`): devices, data, checkpoints, stops.

The step is jit-compiled as one function of a replicated `GANState` and a batch sharded
over a 1-D `("data",)` mesh of the local (or, with `jax.distributed`, global) devices: XLA
inserts the gradient all-reduces, so the same code runs on 1 CPU, 8 GPUs or a TPU pod, and
gives the same numbers on each (`jax-practice.md` §2). The run state itself is `state.py`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import queue
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from tqdm.auto import tqdm

from gan_jax import augment, checkpoint, classifier, data, evaluate, files, losses, notes, sampling, writers
from gan_jax import config as config_lib
from gan_jax import step as step_lib
from gan_jax.models import PRECISIONS, get_model
from gan_jax.signals import StopRequest
from gan_jax.state import (GANState, generator_item, init_state, make_optimizer, progress_at,
                           reset_optimizers, stats_from_json, stats_to_json)

log = logging.getLogger("gan_jax.train")

# Keys that may change when a run is resumed: they schedule the run, they do not define it.
RESUMABLE_KEYS = ("train.steps", "train.log_every", "train.sample_every", "train.ckpt_every",
                  "train.keep", "train.num_samples", "train.debug_nan_at_step", "train.classifier",
                  "train.eval_every", "train.eval_n", "train.precision", "train.lr_decay_steps",
                  "truncation")


class TrainError(RuntimeError):
    """A run that cannot start or continue (bad workdir, diverged loss, ...)."""


# ---------------------------------------------------------------------------------------------
# Config checks

def validate(cfg: config_lib.Config) -> None:
    """Raises ConfigError for settings no run could use (checked before any work is done)."""
    losses.check(cfg.train.loss)
    try:
        augment.parse(cfg.train.diffaug)
        sampling.check_truncation(cfg.truncation)
    except ValueError as e:
        raise config_lib.ConfigError(str(e)) from None
    make_optimizer(cfg.train)
    if cfg.train.precision not in PRECISIONS:
        raise config_lib.ConfigError(f"train.precision must be one of {', '.join(PRECISIONS)}, "
                                     f"got {cfg.train.precision!r}")
    for key in ("r1_weight", "d_lr", "lr_decay_steps"):
        if getattr(cfg.train, key) < 0:
            raise config_lib.ConfigError(f"train.{key} must be >= 0, got {getattr(cfg.train, key)}")
    for key in ("n_critic", "r1_every", "batch_size", "steps", "log_every", "sample_every", "ckpt_every", "keep"):
        if getattr(cfg.train, key) < 1:
            raise config_lib.ConfigError(f"train.{key} must be >= 1, got {getattr(cfg.train, key)}")
    if not 0.0 <= cfg.train.ema < 1.0:
        raise config_lib.ConfigError(f"train.ema must be in [0, 1), got {cfg.train.ema}")
    if cfg.data.slicing not in data.SLICINGS:
        raise config_lib.ConfigError(f"data.slicing must be one of {data.SLICINGS}, got {cfg.data.slicing!r}")
    for key in ("drift_weight", "d_ac_weight", "g_ac_weight", "d_mismatch", "g_mode_seeking"):
        if getattr(cfg.train, key) < 0:
            raise config_lib.ConfigError(f"train.{key} must be >= 0, got {getattr(cfg.train, key)}")
    model = get_model(cfg.model_name)
    if cfg.train.d_mismatch and model.num_classes(cfg.model) and not (
            model.d_label_sets and model.d_labels(cfg.model)):
        # WaveGAN's and SpecGAN's D score several labels per clip in one pass (step.critic_loss).
        # Unconditional, there is no label to get wrong: the option does nothing.
        raise config_lib.ConfigError("train.d_mismatch needs WaveGAN's or SpecGAN's D with a "
                                     "projection (model.class_head with projection); set "
                                     "train.d_mismatch=0")
    if cfg.train.eval_every < 0 or cfg.train.eval_n < 1:
        raise config_lib.ConfigError(f"train.eval_every must be >= 0 and train.eval_n >= 1, got "
                                     f"{cfg.train.eval_every} and {cfg.train.eval_n}")
    if cfg.train.eval_every and not cfg.train.classifier:
        raise config_lib.ConfigError("train.eval_every needs train.classifier=<folder from "
                                     "`evaluate.py classifier`>")
    if cfg.train.gp_target <= 0:
        raise config_lib.ConfigError(f"train.gp_target must be > 0, got {cfg.train.gp_target}")
    model_rate = cfg.model.sample_rate   # None: the model works at any rate
    if model_rate not in (None, cfg.data.sample_rate):
        raise config_lib.ConfigError(
            f"data.sample_rate={cfg.data.sample_rate} differs from model.sample_rate={model_rate}, "
            "which the model's spectrogram is built for; set both")


# ---------------------------------------------------------------------------------------------
# Devices and sharding

def make_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1-D ("data",) mesh over `devices` (default: all devices of all processes)."""
    devices = list(jax.devices() if devices is None else devices)
    return jax.make_mesh((len(devices),), ("data",), axis_types=(jax.sharding.AxisType.Auto,),
                         devices=devices)


def check_batch(batch_size: int, mesh) -> None:
    n = mesh.devices.size
    if batch_size % n:
        raise config_lib.ConfigError(
            f"train.batch_size={batch_size} is not divisible by the {n} devices of the mesh; "
            f"use a multiple of {n} (e.g. {max(n, batch_size // n * n)})")


def compile_step(cfg: config_lib.Config, mesh, stage: int | None = None):
    """The train step jitted for `mesh` (and `stage`): state replicated and donated, batch
    (audio and labels) sharded on its batch axis; an optional 4th argument `r1` (static, see
    step.py) picks the lazy-R1 executable."""
    check_batch(cfg.train.batch_size, mesh)
    repl = NamedSharding(mesh, P())
    batch = NamedSharding(mesh, P(None, "data"))
    return jax.jit(functools.partial(step_lib.train_step, cfg, stage),
                   in_shardings=(repl, batch, repl), out_shardings=(repl, repl), donate_argnums=0,
                   static_argnums=3)


def create_state(cfg: config_lib.Config, mesh) -> GANState:
    repl = NamedSharding(mesh, P())
    return jax.jit(functools.partial(init_state, cfg), out_shardings=repl)(jax.random.key(cfg.seed))


def abstract_state(cfg: config_lib.Config, mesh):
    repl = NamedSharding(mesh, P())
    shapes = jax.eval_shape(functools.partial(init_state, cfg), jax.random.key(0))
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=repl), shapes)


def shard_batch(mesh, local_batch, global_batch: int):
    """Process-local rows [N, B_local, ...] -> global arrays [N, B, ...] sharded on B.

    `local_batch` is an array or a pytree of them, e.g. (audio, labels).
    """
    sharding = NamedSharding(mesh, P(None, "data"))

    def one(local):
        shape = (local.shape[0], global_batch) + local.shape[2:]
        return jax.make_array_from_process_local_data(sharding, local, shape)

    return jax.tree.map(one, local_batch)


# ---------------------------------------------------------------------------------------------
# The training loop

def _check_workdir(workdir: Path, cfg, allow_config_change: bool) -> list[str]:
    """The keys that differ from the run's saved config; refuses them unless allowed."""
    path = workdir / "config.json"
    if not path.exists():
        return []
    saved = config_lib.load_json(path)
    changed = config_lib.diff(saved, cfg, ignore=RESUMABLE_KEYS)
    if changed and not allow_config_change:
        details = "; ".join(f"{k}: {_get(saved, k)!r} -> {_get(cfg, k)!r}" for k in changed)
        raise TrainError(
            f"{path}: the run in {workdir} was started with a different config ({details}). "
            "Use another --workdir, or pass --allow-config-change to continue this run anyway.")
    return changed


def _write_config(workdir: Path, cfg, changed: list[str]) -> None:
    path = workdir / "config.json"
    if changed:   # keep the config the run was started with
        backup = workdir / f"config.{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.replace(backup)
        log.warning("config changed (%s); previous config kept as %s", ", ".join(changed), backup)
    config_lib.save_json(cfg, path)   # the folder exists: _prepare checked it is writable


def _get(cfg, dotted: str):
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _prefetch(iterator, size: int = 2):
    """Runs a host-side batch iterator in a thread, so numpy slicing overlaps device work."""
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def worker():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as e:   # surface loader errors in the training thread
            q.put(e)

    threading.Thread(target=worker, daemon=True).start()
    try:
        while True:
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


@dataclasses.dataclass
class TrainResult:
    step: int                       # G steps done when the loop stopped
    interrupted: int | None         # the signal that stopped it, if any
    metrics: dict                   # the last step's metrics (floats)


def load_data(cfg: config_lib.Config):
    """The training set: pitched notes for pitch-conditioned models, else audio clips."""
    pitch_range = get_model(cfg.model_name).pitch_range
    if pitch_range is not None:
        low, high = pitch_range(cfg.model)
        return notes.load_notes(
            cfg.data.path or None, sample_rate=cfg.data.sample_rate,
            slice_len=cfg.model.slice_len, pitch_min=low, pitch_max=high,
            normalize=cfg.data.normalize, n_per_pitch=cfg.data.embedded_per_class, seed=cfg.seed)
    return data.load_dataset(
        cfg.data.path or None, sample_rate=cfg.data.sample_rate,
        slice_len=cfg.model.slice_len, num_channels=cfg.model.audio_channels,
        normalize=cfg.data.normalize, slicing=cfg.data.slicing, split=cfg.data.split,
        seed=cfg.seed, n_per_class=cfg.data.embedded_per_class)


def train(cfg: config_lib.Config, workdir, *, allow_config_change: bool = False,
          progress: bool = True, devices=None, stop: StopRequest | None = None) -> TrainResult:
    """Trains (or resumes) the run in `workdir` up to cfg.train.steps G steps.

    SIGINT/SIGTERM (in the main thread) stop the run: during set-up and data loading at
    once, by KeyboardInterrupt; once training, after the current step, with a checkpoint
    (TrainResult.interrupted). `stop` is the caller's StopRequest, if it made one (the CLI
    does, to cover its own start-up too).
    """
    with contextlib.nullcontext(stop) if stop is not None else StopRequest() as stop:
        with stop.interruptible():
            cfg, workdir, mesh, changed, dataset = _prepare(cfg, workdir, allow_config_change,
                                                            devices)
        lead = jax.process_index() == 0
        if lead and 0 < cfg.train.lr_decay_steps < cfg.train.steps:
            log.warning("train.lr_decay_steps=%d < train.steps=%d: the learning rates are 0 from "
                        "then on; raise train.lr_decay_steps with train.steps to train longer",
                        cfg.train.lr_decay_steps, cfg.train.steps)
        with checkpoint.Checkpoints(workdir / "checkpoints", keep=cfg.train.keep) as ckpts:
            with stop.interruptible():
                state, start, stats = _resume_or_init(cfg, workdir, mesh, ckpts, changed, dataset)
                if lead:
                    _write_config(workdir, cfg, changed)
            return _loop(cfg, workdir, mesh, dataset, ckpts, state, start, stats, progress, lead,
                         stop)


def _resume_or_init(cfg, workdir, mesh, ckpts, changed, dataset):
    """(state, step, dataset statistics) from the latest checkpoint, or fresh at step 0.
    On resume the statistics come from the checkpoint, never recomputed."""
    start = ckpts.latest_step()
    if start is None:
        stats = get_model(cfg.model_name).compute_stats(cfg.model, dataset)
        return create_state(cfg, mesh), 0, stats
    try:
        state, meta = ckpts.restore(start, abstract_state(cfg, mesh))
    except ValueError as e:
        why = f" ({', '.join(changed)} changed)" if changed else ""
        raise TrainError(f"{workdir}/checkpoints/{start} does not fit this config{why}: "
                         f"{e}") from None
    log.info("resumed %s at step %d", workdir, start)
    return state, start, stats_from_json(meta.get("stats"))


def _prepare(cfg, workdir, allow_config_change, devices):
    """Checks the config and the run folder, then loads the data: everything that can fail
    before a step is taken. Returns (cfg, workdir, mesh, changed keys, dataset)."""
    validate(cfg)
    workdir = files.user_path(workdir)
    if cfg.data.path:   # config.json records the folder itself, whatever the working directory
        cfg = dataclasses.replace(
            cfg, data=dataclasses.replace(cfg.data, path=str(files.user_path(cfg.data.path))))
    if cfg.train.classifier:   # checked now, not after minutes of data loading and compiling
        path = str(classifier.check_folder(cfg.train.classifier))
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, classifier=path))
    mesh = make_mesh(devices)
    check_batch(cfg.train.batch_size, mesh)
    if cfg.train.batch_size % jax.process_count():
        raise config_lib.ConfigError(
            f"train.batch_size={cfg.train.batch_size} is not divisible by the "
            f"{jax.process_count()} processes")
    try:
        files.writable_dir(workdir, "run folder")
    except OSError as e:
        raise TrainError(str(e)) from None
    changed = _check_workdir(workdir, cfg, allow_config_change)
    dataset = load_data(cfg)
    log.info("data: %d clips from %s, %d files skipped", len(dataset), dataset.source,
             len(dataset.skipped))
    _check_labels(cfg, dataset)
    return cfg, workdir, mesh, changed, dataset


def _check_labels(cfg, dataset) -> None:
    """A class-conditional WaveGAN/SpecGAN needs a label in [0, num_classes) on every clip."""
    model = get_model(cfg.model_name)
    k = model.num_classes(cfg.model)
    if not k or model.pitch_range is not None:   # pitch labels are checked by load_notes
        return
    labels = np.asarray(dataset.labels)
    bad = np.flatnonzero((labels < 0) | (labels >= k))
    if bad.size:
        i = int(bad[0])
        raise config_lib.ConfigError(
            f"model.num_classes={k} needs a class label 0..{k - 1} on every clip; {bad.size} of "
            f"{len(labels)} clips in {dataset.source} have none or another (first: "
            f"{dataset.files[i]}, label {labels[i]}; FSDD/SC09 files are labelled by their "
            "leading digit); for unlabelled audio set model.num_classes=0")


def _loop(cfg, workdir, mesh, dataset, ckpts, state, start, stats, progress, lead,
          stop) -> TrainResult:
    stats_meta = stats_to_json(stats)
    repl = NamedSharding(mesh, P())
    stats = jax.device_put(jax.tree.map(jnp.asarray, stats), repl)
    reset = jax.jit(functools.partial(reset_optimizers, cfg), out_shardings=repl, donate_argnums=0)
    writer = writers.Writer(workdir / "tb", enabled=lead)
    sample_key = jax.random.key(cfg.seed + 1)   # fixed z: the same clips every time, to compare
    tc = cfg.train
    batches = _prefetch(dataset.batches(
        cfg.seed, (tc.n_critic, tc.batch_size), start=start,
        shard=(jax.process_index(), jax.process_count())))
    save = functools.partial(_save, cfg, ckpts, stats_meta)
    evaluator = (evaluate.Evaluator(tc.classifier, tc.eval_n, cfg.seed + 2)
                 if lead and tc.classifier and tc.eval_every else None)

    step = saved = start
    stage, step_fn = None, None
    last, pending = {}, None        # metrics are read one step late, never blocking dispatch
    clock = [time.perf_counter(), start]
    bar = tqdm(total=tc.steps, initial=start, disable=not (progress and lead), unit="step",
               dynamic_ncols=True, desc=cfg.model_name)
    report = functools.partial(_report, writer, bar, tc, clock)
    try:
        while step < tc.steps and stop.signal is None:
            now = progress_at(cfg, step)[0]
            if step_fn is None or now != stage:
                # A progressive model's new stage: one compilation per stage, not per step.
                stage = now
                step_fn = compile_step(cfg, mesh, stage)
                if stage is not None:
                    log.info("step %d: stage %d", step, stage)
            if step > 0 and progress_at(cfg, step - 1)[0] != stage:
                state = reset(state)   # the first step of a stage (also when resuming there)
            real = next(batches)
            if step + 1 == tc.debug_nan_at_step:   # tests: a diverging step
                real = (np.full_like(real[0], np.nan), real[1])
            state, metrics = step_fn(state, shard_batch(mesh, real, tc.batch_size), stats,
                                     tc.r1_weight > 0 and step % tc.r1_every == 0)
            step += 1
            if pending is not None:
                last = report(*pending, saved)
            pending = (step, metrics)
            bar.update(1)
            checkpoint_now = step % tc.ckpt_every == 0 or step == tc.steps
            sample_now = lead and step % tc.sample_every == 0
            eval_now = evaluator is not None and step % tc.eval_every == 0
            if checkpoint_now or sample_now or eval_now:
                # Checked before the state is used: a diverged state is never saved.
                last, pending = report(*pending, saved), None
            if sample_now:
                _write_samples(cfg, writer, sample_key, stats, step, state)
            if eval_now:
                _write_scores(cfg, writer, evaluator, workdir, stats, step, state)
            if checkpoint_now:
                saved = save(step, state, saved)
        if pending is not None:
            last = report(*pending, saved)
        if stop.signal is not None and step != saved:
            bar.write(f"interrupted at step {step}: saving a checkpoint in {workdir} ...")
            save(step, state, saved)
    finally:
        bar.close()
        writer.close()
    return TrainResult(step=step, interrupted=stop.signal, metrics=last)


def _save(cfg, ckpts, stats_meta, step: int, state, saved: int) -> int:
    """Saves checkpoint `step` (returned); `saved` is the latest one, named if this fails."""
    meta = {"step": step, "config": config_lib.to_dict(cfg), "stats": stats_meta}
    stage, alpha = progress_at(cfg, step)
    if stage is not None:   # for people and tools; resuming derives both from the step
        meta.update(stage=stage, alpha=alpha, images_seen=step * cfg.train.batch_size)
    try:
        ckpts.save(step, state, generator_item(cfg, state), meta)
    except checkpoint.SaveError as e:
        raise TrainError(f"{ckpts.directory}: cannot save checkpoint {step} ({e}); the "
                         f"earlier checkpoints are intact ({_latest(saved)}). Free some space "
                         "and run the same command to resume.") from None
    return step


def _write_samples(cfg, writer, key, stats, step: int, state) -> None:
    """TensorBoard audio of G's clips from the fixed latents `key`, and their spectrograms."""
    spectrogram = get_model(cfg.model_name).spectrogram
    gen = sampling.make_generator(cfg, generator_item(cfg, state), stats, step)
    out = sampling.sample(gen, key, n=cfg.train.num_samples, return_spectrogram=spectrogram)
    audio, spec_NxTxF = out if spectrogram else (out, None)
    writer.audio(step, "samples", audio, cfg.data.sample_rate)
    if spectrogram:   # time across, frequency up
        writer.images(step, "spectrograms", np.swapaxes(np.asarray(spec_NxTxF), 1, 2)[:, ::-1])


def _write_scores(cfg, writer, evaluator, workdir, stats, step: int, state) -> None:
    """The classifier's scores of G now: numbers to TensorBoard (eval/...), everything as one
    line of <workdir>/metrics.jsonl."""
    scores = evaluator(sampling.make_generator(cfg, generator_item(cfg, state), stats, step))
    writer.scalars(step, {f"eval/{k}": v for k, v in scores.items()
                          if isinstance(v, (int, float)) and k != "n"})
    evaluate.append_jsonl(workdir / "metrics.jsonl", {"step": step, **scores})
    log.info("step %d: IS %.3f, FD %.3g, NDB %d/%d", step, scores["is_all"], scores["fd"], scores["ndb"],
             len(evaluator.clf.centroids))


def _host_metrics(step, metrics, saved: int) -> dict:
    """The step's metrics as floats; TrainError naming the step and the metric if one is
    not finite (the state after it is never saved)."""
    out = {k: float(v) for k, v in jax.device_get(metrics).items()}
    bad = sorted((k for k, v in out.items() if not math.isfinite(v)),
                 key=lambda k: (k not in ("d_loss", "g_loss"), k))   # the losses first
    if bad:
        also = f" (and {len(bad) - 1} other metrics)" if len(bad) > 1 else ""
        raise TrainError(f"step {step}: {bad[0]} is {out[bad[0]]}{also} -- training diverged; "
                         f"{_latest(saved)} (try a lower train.lr)")
    return out


def _latest(saved: int) -> str:
    """The checkpoint left to resume from, for error messages (`saved`: its step; 0: none)."""
    return f"checkpoint {saved} is the latest" if saved else "no checkpoint was saved yet"


def _report(writer, bar, tc, clock, step, metrics, saved) -> dict:
    """Checks and shows one step's metrics; every log_every steps writes them with steps/s.

    clock: [time, step] of the last write, updated here.
    """
    metrics = _host_metrics(step, metrics, saved)
    bar.set_postfix(d_loss=f"{metrics['d_loss']:.3g}", g_loss=f"{metrics['g_loss']:.3g}")
    if step % tc.log_every == 0:
        now = time.perf_counter()
        rate = (step - clock[1]) / (now - clock[0])
        clock[:] = [now, step]
        writer.scalars(step, {**{f"train/{k}": v for k, v in metrics.items()},
                              "perf/steps_per_sec": rate})
    return metrics
