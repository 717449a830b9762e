"""TensorBoard output (tensorboardX's event format, no TensorFlow needed); process 0 only.

Events are written synchronously from the training thread. tensorboardX's SummaryWriter
writes from a thread of its own that dies on the first I/O error (a full disk) with a
traceback, after which its bounded queue blocks the training loop for ever. Here a failed
write is one warning, and logging stops while training goes on: the next checkpoint save
then reports the disk problem clearly.
"""

from __future__ import annotations

import logging
import time

import numpy as np

log = logging.getLogger("gan_jax.writers")


class Writer:
    """Scalars, audio and images for one run; a no-op on processes other than 0."""

    def __init__(self, logdir, enabled: bool = True):
        self._events = None
        self._logdir = logdir
        if enabled:
            self._guard(self._open)

    def _open(self):
        from tensorboardX.event_file_writer import EventsWriter

        self._logdir.mkdir(parents=True, exist_ok=True)
        self._events = EventsWriter(str(self._logdir / "events"))

    def _guard(self, fn, *args) -> None:
        """Runs fn; on OSError, warns once and stops logging."""
        try:
            fn(*args)
        except OSError as e:
            log.warning("TensorBoard: cannot write to %s (%s); logging stopped, training goes on",
                        self._logdir, e.strerror or e)
            self._events = None

    def _write(self, step: int, summaries) -> None:
        if self._events is None:
            return

        def write():
            from tensorboardX.proto.event_pb2 import Event
            for summary in summaries:
                self._events.write_event(Event(wall_time=time.time(), step=step, summary=summary))
            self._events.flush()

        self._guard(write)

    def scalars(self, step: int, values: dict) -> None:
        if self._events is not None:
            from tensorboardX.summary import scalar
            self._write(step, [scalar(k, float(v)) for k, v in values.items()])

    def audio(self, step: int, tag: str, clips, sample_rate: int) -> None:
        """clips: [N, T] or [N, T, C] (mixed to mono for TensorBoard) in [-1, 1]."""
        if self._events is not None:
            from tensorboardX.summary import audio
            clips = np.asarray(clips)
            mono = clips.mean(-1) if clips.ndim == 3 else clips
            self._write(step, [audio(f"{tag}/{i}", np.clip(clip, -1, 1), sample_rate=sample_rate)
                               for i, clip in enumerate(mono)])

    def images(self, step: int, tag: str, images_NxHxW) -> None:
        """Grey-scale images with values in [-1, 1] (spectrograms: time across, frequency up)."""
        if self._events is not None:
            from tensorboardX.summary import image
            u8 = np.clip((np.asarray(images_NxHxW) + 1.0) * 127.5, 0, 255).astype(np.uint8)
            self._write(step, [image(f"{tag}/{i}", img, dataformats="HW")
                               for i, img in enumerate(u8)])

    def close(self) -> None:
        if self._events is not None:
            self._guard(self._events.close)
            self._events = None
