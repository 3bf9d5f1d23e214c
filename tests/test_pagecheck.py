"""The page checks of the rendered book, on small pages with known problems."""
from __future__ import annotations

from xaibook.book.pagecheck import check_site

GOOD = """<html><body><main><article id="top">
<h1 id="title">A chapter</h1><a href="other.html#sec">next</a><a href="#title">up</a>
<div class="cell_output"><figure><img src="_images/a.png" alt="a heat map"><figcaption>Fig. 1</figcaption></figure>
</div><table><tr><td>–</td><td>0.5</td></tr></table></article></main></body></html>"""


def _site(tmp_path, page: str):
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "a.png").write_bytes(b"png")
    (tmp_path / "other.html").write_text('<html><body><main><h2 id="sec">s</h2></main></body></html>')
    (tmp_path / "index.html").write_text(page)
    return [str(p) for p in check_site(tmp_path)]


def test_a_clean_page_passes(tmp_path):
    assert _site(tmp_path, GOOD) == []


def test_each_problem_is_named(tmp_path):
    bad = (GOOD.replace("other.html#sec", "other.html#nowhere").replace("_images/a.png", "_images/b.png")
           .replace("<td>–</td>", "<td>NaN</td><td>None</td>").replace('alt="a heat map"', "")
           .replace("<h1", '<div class="output stderr">/home/ci/.venv/lib/x.py:3: UserWarning</div><h1')
           .replace("</article>", '<div class="cell_output"><img src="_images/a.png" alt="x"></div>'
                    "<p>wrote /tmp/pytest-of-root/pytest-3/results/01_foam.json</p></article>"))
    problems = "\n".join(_site(tmp_path, bad))
    for expected in ("no anchor #nowhere", "_images/b.png'> points at a missing file", "reads 'NaN'",
                     "reads 'None'", "without alt text", "stderr output", "machine path",
                     "a figure without a caption"):
        assert expected in problems, (expected, problems)
