"""Checks of the rendered book as a reader meets it: every page of ``_build/html`` parsed.

:func:`check_site` returns one message per problem:

* an internal link, image or anchor that does not resolve;
* an absolute machine path (``/home/...``, ``/tmp/...``, a pytest folder) in the text a reader sees;
* an output block of stderr (a warning or a traceback printed under a cell);
* a table cell reading ``NaN``, ``None`` or ``nan`` (missing values are shown as "–");
* a figure without a caption, or an image without alt text.

``make test`` runs it on the book it builds; ``make browser-check`` adds what needs a browser.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: absolute paths of this or any other machine: a home, the temporary folder, pytest's folders
MACHINE_PATH = re.compile(r"(?<![\w.:/])/(?:home|root|tmp|Users|private/var|var/folders|work|content|mnt|opt)"
                          r"/[\w.\-/]+|pytest-of-\w+|[A-Z]:\\\\Users\\\\")
MISSING_CELL = re.compile(r"^(nan|NaN|None|<NA>|NaT)$")
#: pages that are Sphinx's own (search, index) or a theme's, not the book's
SKIP = {"search.html", "genindex.html", "py-modindex.html"}


@dataclass(frozen=True)
class Problem:
    page: str
    what: str

    def __str__(self) -> str:
        return f"{self.page}: {self.what}"


def _visible_text(soup) -> str:
    for tag in soup(["script", "style", "noscript"]):
        tag.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    return body.get_text(" ", strip=True)


def _ids(soup) -> set[str]:
    return {t["id"] for t in soup.find_all(id=True)} | {t["name"] for t in soup.find_all("a", attrs={"name": True})}


def check_page(path: Path, root: Path, anchors: dict[Path, set[str]]) -> list[Problem]:
    """The problems of one HTML page (``anchors``: every page's ids, for links into other pages)."""
    from bs4 import BeautifulSoup

    page = path.relative_to(root).as_posix()
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    out: list[Problem] = []
    main = soup.find("main") or soup.find("article") or soup
    for tag, attr in (("a", "href"), ("img", "src"), ("link", "href"), ("script", "src")):
        for el in soup.find_all(tag):
            ref = el.get(attr)
            if not ref or ref.startswith(("http://", "https://", "mailto:", "data:", "javascript:", "//")):
                continue
            parts = urlsplit(ref)
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path.resolve()
            if parts.path and not target.exists():
                out.append(Problem(page, f"<{tag} {attr}={ref!r}> points at a missing file"))
            elif parts.fragment and target.suffix == ".html" and parts.fragment not in anchors.get(target, set()):
                out.append(Problem(page, f"<{tag} {attr}={ref!r}>: no anchor #{parts.fragment} in {target.name}"))
    text = _visible_text(BeautifulSoup(str(main), "html.parser"))
    for m in sorted(set(MACHINE_PATH.findall(text)))[:5]:
        out.append(Problem(page, f"a machine path reaches the reader: {m!r}"))
    for block in main.select(".output.stderr, .stderr"):
        out.append(Problem(page, f"stderr output under a cell: {block.get_text(' ', strip=True)[:90]!r}"))
    for cell in main.select("table td, table th"):
        if MISSING_CELL.match(cell.get_text(strip=True)):
            out.append(Problem(page, f"a table cell reads {cell.get_text(strip=True)!r} (show '–')"))
    for img in main.find_all("img"):
        if not (img.get("alt") or "").strip():
            out.append(Problem(page, f"an image without alt text: {img.get('src', '')[:60]!r}"))
        if img.find_parent("figure") is None or img.find_parent("figure").find("figcaption") is None:
            if "cell_output" in " ".join(str(c) for p in img.parents for c in (p.get("class") or [])):
                out.append(Problem(page, f"a figure without a caption: {img.get('src', '')[:60]!r}"))
    return out


def check_site(html: str | Path) -> list[Problem]:
    """Every problem of every page under ``html`` (the built book)."""
    from bs4 import BeautifulSoup

    root = Path(html)
    pages = [p for p in sorted(root.rglob("*.html")) if p.name not in SKIP and "_static" not in p.parts]
    anchors = {p.resolve(): _ids(BeautifulSoup(p.read_text(encoding="utf-8"), "html.parser")) for p in pages}
    return [problem for p in pages for problem in check_page(p, root, anchors)]


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m xaibook.book.pagecheck", description=__doc__.splitlines()[0])
    ap.add_argument("html", nargs="?", default="_build/html")
    args = ap.parse_args(argv)
    problems = check_site(args.html)
    for p in problems:
        print(p)
    print(f"[pagecheck] {len(problems)} problem(s) in {args.html}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
