"""``make browser-check``'s probe on two known pages: a table the book writes whose columns run past
the content column at 1280 px fails; a narrow one passes. Needs Chromium (skipped without it)."""
from __future__ import annotations

from pathlib import Path

import pytest

from xaibook.book import browser


def _page(path: Path, table: str) -> None:
    css = (Path(__file__).resolve().parents[1] / "book" / "_static" / "xaibook.css").read_text()
    path.write_text(f"<html><head><style>{css} article {{ width: 752px }}</style></head><body><main class='bd-main'>"
                    f"<article class='bd-article'>{table}</article></main></body></html>")


def test_a_book_table_cut_off_at_1280_px_fails_and_a_narrow_one_passes(tmp_path):
    try:
        browser.find_chromium()
    except Exception:
        pytest.skip("needs Chromium (apt-get install chromium)")
    heads = "".join(f"<th>column {i} with a long header</th>" for i in range(14))
    cells = "".join(f"<td>value_{i}_without_any_spaces_at_all</td>" for i in range(14))
    _page(tmp_path / "wide.html", f"<table><tr>{heads}</tr><tr>{cells}</tr></table>")
    (tmp_path / "index.html").write_text("<html><body><main class='bd-main'><article class='bd-article'>"
                                         "</article></main></body></html>")
    _page(tmp_path / "narrow.html", "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>")
    results = {r.page: r for r in browser.check(tmp_path, tmp_path.parent / "screens", widths=(1280,))}
    assert any("table columns cut off" in w for w in results["wide.html"].wide)
    assert results["narrow.html"].problems() == []


def test_the_survey_shuffles_questions_per_participant_and_codes_anonymous_ones(tmp_path):
    """Two participants opening the same survey file get their own question order and their own code."""
    import json

    import numpy as np

    from xaibook.featurecam import write_survey
    from xaibook.featurecam.survey import SurveyItem

    try:
        browser.find_chromium()
    except Exception:
        pytest.skip("needs Chromium (apt-get install chromium)")
    heat = np.linspace(0, 1, 16).reshape(4, 4)
    items = [SurveyItem(f"{p}|{m}", m, p, heat) for p in ("cat", "cup") for m in "ABCD"]
    pool = {"cat": np.zeros((4, 4, 3), np.uint8), "cup": np.full((4, 4, 3), 200, np.uint8)}
    url = write_survey(tmp_path / "s.html", items, pool, title="T").resolve().as_uri()
    b = browser.Browser()
    seen = []
    try:
        for _ in range(2):
            b.call("Page.navigate", url=url)
            b._wait_load()
            out = b.call("Runtime.evaluate", returnByValue=True,
                         expression="JSON.stringify([D.questions.map(q => q.item), who()])")
            seen.append(json.loads(out["result"]["value"]))
    finally:
        b.close()
    (order1, who1), (order2, who2) = seen
    assert sorted(order1) == sorted(order2) == sorted(i.item for i in items) and order1 != order2   # 1 in 40320
    assert who1.startswith("anonymous-") and who2.startswith("anonymous-") and who1 != who2
