"""benchmarks/bench_quality.py's loop around training: what Ctrl-C and a resumed run do.
(The training and scoring it calls are tested in test_train.py and test_evaluate.py.)"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_quality as BQ  # noqa: E402
from gan_jax import train as T  # noqa: E402


@pytest.fixture
def fake_training(monkeypatch):
    """T.train replaced by a stub that 'trains' to the budget from `calls["at"]` (a checkpoint
    already there), or stops at `calls["stop_at"]`; scoring by a stub that records the point."""
    calls = {"at": 0, "stop_at": None, "scored": []}

    def train(cfg, workdir, progress):
        calls["lr_decay_steps"], calls["lr"] = cfg.train.lr_decay_steps, cfg.train.lr
        step = max(calls["at"], cfg.train.steps)
        if calls["stop_at"] is not None and calls["stop_at"] < step:
            step, calls["at"] = calls["stop_at"], calls["stop_at"]
            return T.TrainResult(step=step, interrupted=2, metrics={})
        calls["at"] = step
        return T.TrainResult(step=step, interrupted=None, metrics={})

    monkeypatch.setattr(BQ.T, "train", train)
    monkeypatch.setattr(BQ, "load", lambda workdir: (None, type("Saved", (), {"truncation": 1.0})))
    monkeypatch.setattr(BQ, "_score", lambda clf, gen, n, pyin: calls["scored"].append(calls["at"]) or {})
    return calls


def _curve(tmp_path):
    return [r["step"] for r in BQ.curve("specgan", "quick", None, [], None, tmp_path, 900, 3, 10)]


def test_points_are_scored_at_their_steps_and_a_resumed_run_skips_those_it_passed(
        fake_training, tmp_path):
    assert _curve(tmp_path) == [300, 600, 900] and fake_training["scored"] == [300, 600, 900]
    fake_training.update(at=700, scored=[])     # the same command again, after a stop at 700
    assert _curve(tmp_path) == [900] and fake_training["scored"] == [900]


def test_ctrl_c_stops_the_benchmark_with_exit_130(fake_training, tmp_path, monkeypatch, capsys):
    fake_training["stop_at"] = 450
    with pytest.raises(KeyboardInterrupt, match="specgan stopped at step 450"):
        _curve(tmp_path)
    assert fake_training["scored"] == [300]     # the point before the stop, not the stopped one
    monkeypatch.setattr(BQ, "matmul_peak", lambda: 1.0)
    monkeypatch.setattr(BQ.classifier, "load_classifier", lambda folder: None)
    monkeypatch.setattr(sys, "argv", ["bench_quality.py", "--model", "specgan", "--preset",
                                      "quick", "--classifier", "c", "--workdir", str(tmp_path)])
    fake_training.update(at=0, stop_at=10)
    assert BQ.main() == 130
    assert "run the same command to resume" in capsys.readouterr().err


def test_a_budget_of_steps_moves_the_presets_lr_decay_with_it(fake_training, tmp_path):
    # The quick SpecGAN's learning rates fall over 1350 steps, of which its budget runs 900:
    # over 900 with --steps 600, and as the preset with its own budget.
    next(BQ.curve("specgan", "quick", None, [], None, tmp_path / "a", 600, 2, 10))
    assert fake_training["lr_decay_steps"] == 900
    next(BQ.curve("specgan", "quick", None, [], None, tmp_path / "c", 900, 2, 10))
    assert fake_training["lr_decay_steps"] == 1350
    next(BQ.curve("specgan", "quick", None, [("train.lr_decay_steps", "2000")], None,
                  tmp_path / "b", 600, 2, 10))
    assert fake_training["lr_decay_steps"] == 2000      # asked for: kept


def test_overrides_may_come_before_and_after_the_options(fake_training, tmp_path, monkeypatch):
    monkeypatch.setattr(BQ, "matmul_peak", lambda: 1.0)
    monkeypatch.setattr(BQ.classifier, "load_classifier", lambda folder: None)
    monkeypatch.setattr(sys, "argv", ["bench_quality.py", "--model", "specgan", "--preset", "quick",
                                      "--classifier", "c", "--workdir", str(tmp_path), "--points",
                                      "1", "train.lr=1e-3", "--steps", "600", "data.split=train"])
    assert BQ.main() == 0
    assert (fake_training["lr"], fake_training["lr_decay_steps"]) == (1e-3, 900)
