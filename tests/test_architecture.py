"""docs/ARCHITECTURE.md and the file tree agree, and the layout's rules hold.

The import layers themselves are import-linter's to check (`lint-imports`, in .ci/run); here:
every folder of the package is on the page and says what it may import, every path the docs name
exists, and no module has grown past the size at which it asks to be split.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "forensics"
ARCHITECTURE = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
DOCS = {
    p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *ROOT.glob("docs/*.md")]
}
FOLDERS = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
MODULES = sorted(PACKAGE.rglob("*.py"))
# "A module past ~400 lines is asking to be split": the tilde's margin, and no more.
MAX_LINES = 420


def test_the_package_has_its_folders():
    assert {"cli", "write", "read", "store", "oncall", "report", "spark", "doctor", "sample"} <= set(FOLDERS)


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_folder_is_on_the_page_and_says_what_it_may_import(folder):
    assert f"`{folder}/`" in ARCHITECTURE
    doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text(encoding="utf-8")))
    assert doc and "import" in doc.lower(), (
        f"forensics/{folder}/__init__.py: say what lives there and what it may import"
    )


def test_every_folder_is_a_layer_of_the_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")
    named = {name.strip() for layer in layers["layers"] for name in re.split(r"[|:]", layer)}
    top_level = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | set(FOLDERS)
    assert layers["exhaustive"] is True
    assert named == top_level


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_every_path_the_docs_name_exists(doc):
    named = set(re.findall(r"`((?:forensics|tests|bench|queries|notebooks|docs)/[\w./-]*\w)`", DOCS[doc]))
    if doc == "docs/ARCHITECTURE.md":  # its folder table names modules by folder
        rows = re.findall(r"^\| `(\w+)/` \| (.*)$", DOCS[doc], re.M)
        named |= {
            f"forensics/{folder}/{module}" for folder, listed in rows for module in re.findall(r"`(\w+\.py)`", listed)
        }
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"{doc} names paths that do not exist: {missing}"


def test_the_page_names_every_module():
    for module in MODULES:
        if module.name == "__init__.py" or module.parent == PACKAGE:
            continue
        assert f"`{module.name}`" in ARCHITECTURE, f"{module.relative_to(ROOT)} is not on docs/ARCHITECTURE.md"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_module_asks_to_be_split(module):
    lines = len(module.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module.relative_to(ROOT)} has {lines} lines: split it by job"
