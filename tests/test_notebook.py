"""The exploration notebook runs top to bottom on a fresh kernel, and is committed without outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "exploration.ipynb"


def test_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_notebook_executes(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps([o.get("data", {}).get("text/plain", "") for o in outputs])
    assert "gpt-oss:20b" in text and "6+" in text and "validation_failed" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the chart was drawn
    assert (tmp_path / "forensics-demo" / "sessions.jsonl").exists()
    # the drill-down took a violating session that was replayed, and named the invented staff id
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "has replay runs" in printed
    names = next(c for c in nb.cells if c.cell_type == "code" and "grounded_names" in c.source)
    shown = json.dumps([o.get("data", {}).get("text/plain", "") for o in names.outputs])
    assert "W-999" in shown and "False" in shown
    # the two best models compared on every per-call measure
    compared = next(c for c in nb.cells if c.cell_type == "code" and "compare(store" in c.source)
    shown = json.dumps([o.get("data", {}).get("text/plain", "") for o in compared.outputs])
    assert "first_shot_rate" in shown and "p95_duration_ms" in shown and "gpt-oss:20b" in shown
    # the chart drew the intervals (a filled band per model) in the report's styles
    chart = next(c for c in nb.cells if c.cell_type == "code" and "fill_between" in c.source)
    assert any("image/png" in o.get("data", {}) for o in chart.outputs)


def test_forensics_notebook_copies_the_shipped_notebook(cli, tmp_path):
    code, out, _ = cli("notebook", tmp_path / "nb")
    assert code == 0 and (tmp_path / "nb" / "exploration.ipynb").read_bytes() == NOTEBOOK.read_bytes()
    code, _, err = cli("notebook", tmp_path / "nb")
    assert code == 1 and "--force" in err
    assert cli("notebook", tmp_path / "nb", "--force")[0] == 0
