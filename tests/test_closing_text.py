"""Every chapter's closing section ("What reproduced and what did not") states results only through
glued values computed from the run: its fixed prose may not contain a constant of the fast profile
(a setting in which the fast profile departs from the paper's), so that a paper-profile run never
states a fast-profile fact. The glued sentences themselves are tested per chapter (their
``*_sentence``/``chapter_summary`` functions, on fabricated paper-profile inputs where they name a
classifier, a count or a size)."""
from __future__ import annotations

import dataclasses
import importlib
import json
import re
from pathlib import Path

import pytest

from xaibook.book.chapters import CHAPTERS
from xaibook.book.notebook import GLUE_ROLE, closing_section, render_conclusions, render_glued

ROOT = Path(__file__).resolve().parents[1]
MODULES = {"01_foam": "xaibook.foam.experiment", "02_cauliflower": "xaibook.cauliflower.experiment",
           "03_lung_sliding": "xaibook.lung.experiment", "04_steel_defects": "xaibook.steel.experiment",
           "05_feature_cam": "xaibook.featurecam.experiment"}
#: how the fast profile's values are also written in prose
ALIASES = {"efficientnet_lite0": ("Lite0", "EfficientNet"), "efficientnet_lite1": ("Lite1",),
           "efficientnet_lite2": ("Lite2",), "photographs": ("photographs", "ten photographs")}


def closing_text(chapter: str) -> str:
    return GLUE_ROLE.sub("<glued>", closing_section(chapter, ROOT))


def fast_constants(chapter: str) -> set[str]:
    mod = importlib.import_module(MODULES[chapter])
    out: set[str] = set()
    for f in dataclasses.fields(mod.PAPER):
        a, b = getattr(mod.PAPER, f.name), getattr(mod.FAST, f.name)
        if a == b:
            continue
        for v in (b if isinstance(b, (tuple, list)) else (b,)):
            if isinstance(v, bool) or v is None:
                continue
            text = str(v)
            if isinstance(v, (int, float)) and float(v) in (0.0, 1.0):
                continue                     # 0 and 1 are everywhere in prose
            out.add(text)
            out.update(ALIASES.get(text, ()))
    return out


def smoke_values(chapter: str) -> set[str]:
    """The values the paper profile's smoke run sets itself (the chapter's ``SMOKE``): its conclusions
    may state them (a smoke run on 3 test patients says 3), so they are no evidence of a fast-profile leak."""
    out: set[str] = set()
    for v in importlib.import_module(MODULES[chapter]).SMOKE.values():
        out.update(str(x) for x in (v if isinstance(v, (tuple, list)) else (v,)))
    return out


def fast_profile_values_in(text: str, chapter: str, *, allowed: set[str] = frozenset()) -> list[str]:
    """The fast profile's settings (:func:`fast_constants`) that ``text`` states, as whole words."""
    return sorted(c for c in fast_constants(chapter) - set(allowed)
                  if re.search(rf"(?<![\w.]){re.escape(c)}(?![\w])", text))


@pytest.mark.parametrize("chapter", sorted(MODULES))
def test_closing_prose_holds_no_fast_profile_constant(chapter):
    assert chapter in CHAPTERS
    text = closing_text(chapter)
    found = fast_profile_values_in(text, chapter)
    assert not found, f"{chapter}'s closing prose states fast-profile values {found}; glue them from the run"


def test_render_glued_fills_roles_as_myst_nb_does():
    text = "F1 {glue:text}`f1:.1f`% (paper 97.45%); {glue:md}`verdict`; n = {glue:text}`n`."
    assert render_glued(text, {"f1": 91.234, "verdict": "it **holds**", "n": 7}) == \
        "F1 91.2% (paper 97.45%); it **holds**; n = 7."
    with pytest.raises(KeyError, match=r"run\.json: no glued value for \['n'\]"):
        render_glued(text, {"f1": 1.0, "verdict": ""}, where="run.json")


def test_glue_keeps_the_runs_values_for_its_results_file(tmp_path):
    import numpy as np
    import pandas as pd

    from xaibook.book.notebook import glue, start_chapter

    run = start_chapter("01_foam", profile="fast", data=None, seed=3, device="cpu", results_dir=str(tmp_path),
                        settings=lambda profile, smoke=False: None)
    glue("binary_f1", np.float64(91.5))
    glue("verdict", "holds")
    with pytest.raises(TypeError, match=r"glue\('table'\): a number or a string, not DataFrame"):
        glue("table", pd.DataFrame())
    written = json.loads(Path(run.card.write()).read_text())["glue"]
    assert written == {"tag": run.tag, "binary_f1": 91.5, "verdict": "holds"}
    other = start_chapter("02_cauliflower", profile="fast", data=None, seed=3, device="cpu",
                          results_dir=str(tmp_path), settings=lambda profile, smoke=False: None)
    glue("x", 1)
    assert set(run.card.glued) == {"tag", "binary_f1", "verdict"} and set(other.card.glued) == {"tag", "x"}


@pytest.mark.parametrize("chapter", sorted(MODULES))
def test_conclusions_render_from_a_results_file(tmp_path, chapter):
    """Every glue role of the closing section is filled from the results file; a results file of an older
    version (no glue) is a clear error."""
    names = {m.group(2) for m in GLUE_ROLE.finditer(closing_section(chapter, ROOT))}
    assert names, chapter
    values = {n: 0.5 for n in names} | {"tag": "paper profile, real data"}
    results = tmp_path / f"{chapter}.json"
    results.write_text(json.dumps({"chapter": chapter, "profile": "paper", "glue": values}))
    text = render_conclusions(results, ROOT)
    assert text.startswith("What reproduced and what did not\n") and "{glue" not in text
    assert "paper profile, real data" in text and "\n# " not in text
    results.write_text(json.dumps({"chapter": chapter, "profile": "paper"}))
    with pytest.raises(KeyError, match=f"{chapter}.json: no glued values"):
        render_conclusions(results, ROOT)


def test_conclusions_command_prints_a_runs_closing_section(tmp_path, capsys, monkeypatch):
    from xaibook.book.build import main

    monkeypatch.setenv("XAIBOOK_ROOT", str(ROOT))
    names = {m.group(2) for m in GLUE_ROLE.finditer(closing_section("04_steel_defects", ROOT))}
    results = tmp_path / "04_steel_defects.json"
    results.write_text(json.dumps({"chapter": "04_steel_defects", "glue": {n: 1.25 for n in names}}))
    assert main(["conclusions", str(results)]) == 0
    assert "What reproduced and what did not" in capsys.readouterr().out
    assert main(["conclusions", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: no such results file" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    (b'{"chapter": "04_steel_defects", "glue": {', "not a readable results file"),      # cut short mid-write
    (bytes([0xFF, 0xFE, 0x7B]), "not a readable results file"),                        # not UTF-8
    (b"[1, 2]", "not a chapter's results file"),
    (b'{"glue": {}}', "not a chapter's results file"),
])
def test_a_corrupt_results_file_is_named_with_the_fix(tmp_path, capsys, monkeypatch, content, message):
    from xaibook.book.build import main

    monkeypatch.setenv("XAIBOOK_ROOT", str(ROOT))
    results = tmp_path / "04_steel_defects.json"
    results.write_bytes(content)
    with pytest.raises(ValueError, match=f"04_steel_defects.json: {message}.*run the chapter again"):
        render_conclusions(results, ROOT)
    assert main(["conclusions", str(results)]) == 2
    assert f"04_steel_defects.json: {message}" in capsys.readouterr().err


def test_glued_values_read_back_from_an_executed_notebook(tmp_path):
    """The values a run glued, read back from the notebook's outputs as MyST-NB stores them."""
    import nbformat

    from xaibook.book.notebook import glued_in_notebook

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("glue(...)")
    record = "application/papermill.record/"          # the prefix MyST-NB's glue writes
    cell.outputs = [nbformat.v4.new_output("display_data", data={f"{record}text/plain": "0.853"},
                                           metadata={"scrapbook": {"name": "rough", "mime_prefix": record}}),
                    nbformat.v4.new_output("display_data", data={f"{record}text/markdown": "it *holds*",
                                                                 f"{record}text/plain": "<Markdown object>"},
                                           metadata={"scrapbook": {"name": "verdict", "mime_prefix": record}}),
                    nbformat.v4.new_output("display_data", data={"text/plain": "7"},
                                           metadata={"scrapbook": {"name": "n", "mime_prefix": ""}}),
                    nbformat.v4.new_output("display_data", data={"text/plain": "not glued"})]
    nb.cells = [cell]
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, str(path))
    assert glued_in_notebook(path) == {"rough": 0.853, "verdict": "it *holds*", "n": 7}
