"""The exploration notebook runs top to bottom on a fresh kernel, and is committed without outputs."""

from __future__ import annotations

import ast
import json
import re
import warnings
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "exploration.ipynb"


def test_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.slow
def test_notebook_executes(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nb = nbformat.read(NOTEBOOK, as_version=4)
        nbformat.validate(nb)
        client = nbclient.NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        )
        client.execute()
    assert not [w for w in caught if "MissingIDField" in type(w.message).__name__ + str(w.message)]
    assert all(c.get("id") for c in nb.cells)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps([o.get("data", {}).get("text/plain", "") for o in outputs])
    assert "gpt-oss:20b" in text and "6+" in text and "validation_failed" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the chart was drawn
    assert (tmp_path / "forensics-demo" / "sessions.jsonl").exists()
    # the drill-down took a violating session that was replayed, and named the invented staff id
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "has replay runs" in printed
    # the store cell says what the ingest did in a sentence, as `forensics ingest` does (no raw dict)
    assert re.search(
        r"batch 1: [\d,]+ session rows, [\d,]+ replay rows, 0 unreadable lines, [\d,]+ bytes from 2 of 2 files", printed
    )
    assert "{'sessions'" not in printed
    assert "the artifact gives its names at $.fills[*].candidate_id" in printed
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


def test_the_advice_printed_names_what_the_notebook_extra_installs(cli, tmp_path):
    import tomllib

    code, out, _ = cli("notebook", tmp_path / "my notes")
    assert code == 0 and "jupyter execute --inplace '" in out and "forensics[notebook]" in out
    extra = tomllib.loads((NOTEBOOK.parent.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("nbclient") for dep in extra["notebook"])  # nbclient gives `jupyter execute`
    assert "jupyter lab" not in out or any(dep.startswith("jupyterlab") for dep in extra["notebook"])


def _code_cells():
    return ["".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]


def test_everything_the_notebook_imports_is_public_api():
    import importlib

    import forensics

    for source in _code_cells():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("forensics."):
                public = node.module.split(".", 1)[1]
                assert public in forensics.__all__, node.module
                module = importlib.import_module(node.module)
                assert all(a.name in module.__all__ for a in node.names), (node.module, module.__all__)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "forensics":
                assert node.attr in forensics.__all__, node.attr
    assert "ingest" in forensics.__all__ and forensics.ingest.ingest.__module__ == "forensics.store.ingest"


def test_the_drill_down_reads_the_artifacts_shape_from_the_data(tmp_path):
    """The drill-down cell run on logs whose artifacts are not fills: it finds where their names sit."""
    pytest.importorskip("pandas")
    import forensics

    from .conftest import session, write_jsonl

    rows = []
    for i, (staff, grounded) in enumerate([("S-1", True), ("S-2", True), ("S-404", False)]):
        r = session(f"d-{i}", grounded=grounded)
        r["artifact"] = {"assignments": [{"staff_id": staff, "shift": "night"}, {"staff_id": "S-1"}], "lead_id": "L-7"}
        rows.append(r)
    log = write_jsonl(tmp_path / "s.jsonl", rows)
    cell = next(s for s in _code_cells() if "grounded_names" in s)
    with forensics.connect(str(log)) as store:
        namespace = {"store": store, "session_id": "d-2", "forensics": forensics}
        exec(compile(cell, "drill-down", "exec"), namespace)
    found = __import__("pandas").concat(namespace["found"])
    got = sorted(zip(found.path, found.name, found.in_a_grounded_fill))
    assert got == [
        ("$.assignments[*].staff_id", "S-1", True),
        ("$.assignments[*].staff_id", "S-404", False),
        ("$.lead_id", "L-7", True),
    ]
