"""TensorBoard events: written synchronously and readable; a failing disk is one warning."""

import logging

import numpy as np

from conftest import tb_events
from gan_jax import writers


def test_scalars_audio_and_images_round_trip(tmp_path):
    w = writers.Writer(tmp_path / "tb")
    w.scalars(3, {"train/d_loss": 1.5, "train/g_loss": -0.25})
    w.audio(3, "samples", np.zeros((2, 800, 1), np.float32), 8000)
    w.images(3, "spectrograms", np.zeros((2, 16, 8), np.float32))
    events = tb_events(tmp_path / "tb")   # readable before close: every write is flushed
    w.close()
    values = {v.tag: v for e in events if e.step == 3 for v in e.summary.value}
    assert values["train/d_loss"].simple_value == 1.5
    assert values["train/g_loss"].simple_value == -0.25
    assert values["samples/1"].audio.sample_rate == 8000
    assert values["samples/1"].audio.length_frames == 800
    assert values["spectrograms/0"].image.height == 16 and values["spectrograms/0"].image.width == 8


def test_a_write_error_warns_once_and_logging_stops(tmp_path, caplog, monkeypatch):
    w = writers.Writer(tmp_path / "tb")

    def full(event):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(w._events, "write_event", full)
    with caplog.at_level(logging.WARNING, logger="gan_jax.writers"):
        w.scalars(1, {"a": 1.0})
        w.scalars(2, {"a": 2.0})
        w.close()
    assert [r.getMessage() for r in caplog.records] == [
        f"TensorBoard: cannot write to {tmp_path / 'tb'} (No space left on device); "
        "logging stopped, training goes on"]


def test_disabled_writer_writes_nothing(tmp_path):
    w = writers.Writer(tmp_path / "tb", enabled=False)
    w.scalars(1, {"a": 1.0})
    w.close()
    assert not (tmp_path / "tb").exists()


