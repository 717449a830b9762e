"""The Colab notebook: committed without outputs, and runs top to bottom on CPU.

The run replaces the `parameters` cell (papermill's convention) with a tiny GANSynth, so
every cell does real work, the pitch and MIDI one included, and points the install cell at
this checkout, which the test environment already has installed.
"""

from pathlib import Path

import pytest

from conftest import GANSYNTH_TINY

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "gan_jax_colab.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "INSTALL_FROM" in params[0].source


def test_notebook_runs_top_to_bottom_on_cpu(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    overrides = {**GANSYNTH_TINY, "data.embedded_per_class": "2", "train.batch_size": "8",
                 "train.log_every": "1", "train.num_samples": "2"}
    params = {"INSTALL_FROM": str(ROOT), "MODEL": "gansynth", "PRESET": "small",
              "DATA": "embedded", "WORKDIR": str(tmp_path / "run"), "STEPS": 2,
              "OVERRIDES": " ".join(f"{k}={v}" for k, v in overrides.items()),
              "PITCHES": "60, 63", "CLASSIFIER_STEPS": 2, "N_SCORE": 12}
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = "\n".join(f"{k} = {v!r}" for k, v in params.items())
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()   # raises CellExecutionError, naming the cell, if any cell fails
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs if o.get("output_type") == "stream")
    assert f"gan_jax from {ROOT} is already installed" in text
    assert "gansynth preset small: 2 steps" in text
    assert "melody.mid: 4 notes" in text   # 60, 63, 63, 60
    audio = [o for c in nb.cells for o in c.get("outputs", [])
             if "text/html" in o.get("data", {}) and "<audio" in o["data"]["text/html"]]
    assert len(audio) >= 4 + 2 + 1 + 1
    assert (tmp_path / "run" / "checkpoints").is_dir()
    assert "is_all" in text and "pitch_accuracy" in text, text   # the score table
