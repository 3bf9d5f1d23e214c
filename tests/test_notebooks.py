"""Notebook conventions: paired, clean, parametrised, registered."""
from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import jupytext
import pytest

from xaibook.book.chapters import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_every_registered_chapter_has_a_notebook_and_ready_ones_a_toc_entry():
    toc = (ROOT / "_toc.yml").read_text()
    for chapter in CHAPTERS:
        assert (ROOT / "notebooks" / f"{chapter}.py").is_file(), chapter
        assert (f"notebooks/{chapter}" in toc) == (not CHAPTERS.get(chapter).draft), chapter
    assert {p.stem for p in NOTEBOOKS} == set(CHAPTERS.names())


@pytest.mark.parametrize("py", NOTEBOOKS, ids=lambda p: p.stem)
class TestPair:
    def test_pair_in_sync(self, py):
        ipynb = py.with_suffix(".ipynb")
        assert ipynb.is_file(), f"{ipynb} missing: run `jupytext --sync {py}`"
        a = jupytext.read(py)
        b = jupytext.read(ipynb)
        src_a = [(c.cell_type, c.source) for c in a.cells]
        src_b = [(c.cell_type, c.source) for c in b.cells]
        assert src_a == src_b, f"{py.name} and {ipynb.name} differ: run `jupytext --sync {py}`"

    def test_ipynb_has_no_outputs(self, py):
        nb = json.loads(py.with_suffix(".ipynb").read_text())
        dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
        assert not dirty, f"cells {dirty} of {py.stem}.ipynb carry outputs: clear them before committing"

    def test_first_code_cell_is_parameters(self, py):
        nb = jupytext.read(py)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert "parameters" in first.metadata.get("tags", [])
        for name in ("profile", "seed", "data_dir", "device", "results_dir"):
            assert f"{name} =" in first.source, f"parameter {name} missing"

    def test_has_colab_setup_and_real_data_box(self, py):
        text = py.read_text()
        assert '"google.colab" in sys.modules' in text
        assert "Run it on the real data" in text

    def test_every_name_it_imports_from_the_package_exists(self, py):
        """A name the notebook imports but the package does not export breaks the chapter only when papermill
        runs it, half an hour into the suite; this finds it in a second. Submodules (``from xaibook.foam import
        paper``) count."""
        missing = []
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "xaibook":
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if hasattr(module, alias.name):
                        continue
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ModuleNotFoundError:
                        missing.append(f"{node.module}.{alias.name}")
        assert not missing, f"{py.name} imports names the package lacks: {missing} (export them in the module's __init__)"
