"""The book in a real browser: ``make browser-check`` (``python -m xaibook.book.browser``).

Every page of ``_build/html`` is opened in headless Chromium at 1280 px and at a phone's 390 px,
through the Chrome DevTools Protocol (a websocket, ``websocket-client``). For each page and width
a full-page screenshot goes to ``_build/screens/<width>/<page>.png``, and the run fails when

* an image does not load (``naturalWidth`` 0 after the page's load event), at either width;
* at 1280 px, a table or a figure is wider than the article's content column (it would be cut
  or push the page sideways). A notebook output's table (a data frame) may scroll inside the
  column; a table the book writes itself (the scorecard, a chapter's text) may not: one whose
  columns reach past what its scroller shows (columns cut off until the reader scrolls) fails.

Chromium comes from the system's packages (``apt-get install chromium`` when it is missing, which
``make browser-check`` tries once). Only ``file://`` pages are loaded; nothing is fetched.
"""
from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

WIDTHS = (1280, 390)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: run in each page after load: broken images and elements wider than the content column
PROBE = """
(() => {
  const col = document.querySelector('main.bd-main article, article.bd-article, main article, article')
            || document.body;
  const limit = col.getBoundingClientRect().right + 1;
  const broken = [...document.images].filter(i => i.complete && i.naturalWidth === 0
                                             && i.getAttribute('src')).map(i => i.getAttribute('src'));
  const wide = [];
  for (const el of col.querySelectorAll('table, figure, .cell_output img, img')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0) continue;
    let scroller = el.closest('.xaibook-table, .table-wrapper, .output, .cell_output, .bd-table');
    const inScroller = scroller && scroller !== el && getComputedStyle(scroller).overflowX !== 'visible'
                       && scroller.getBoundingClientRect().right <= limit;
    const selfScrolls = el.tagName === 'TABLE' && getComputedStyle(el).overflowX !== 'visible'
                        && r.right <= limit;
    if (r.right > limit && !inScroller && !selfScrolls)
      wide.push(el.tagName.toLowerCase() + ' ' + Math.round(r.right - limit) + ' px past the column'
                + (el.id ? ' #' + el.id : ''));
    else if (el.tagName === 'TABLE' && !el.closest('.cell_output, .output')) {
      const box = (scroller && scroller !== el && getComputedStyle(scroller).overflowX !== 'visible') ? scroller : el;
      const hidden = box.scrollWidth - box.clientWidth;
      if (hidden > 1) {
        const right = box.getBoundingClientRect().right;
        const head = [...el.querySelectorAll('th')].filter(th => th.getBoundingClientRect().right > right + 1)
                                                    .map(th => th.textContent.trim()).slice(0, 3);
        wide.push('table columns cut off by ' + hidden + ' px at this width'
                  + (head.length ? ' (' + head.join(', ') + ')' : ''));
      }
    }
  }
  const page = document.documentElement.scrollWidth - window.innerWidth;
  if (page > 1) wide.push('the page itself is ' + page + ' px wider than the window');
  return JSON.stringify({broken, wide, column: Math.round(col.getBoundingClientRect().width),
                         height: document.documentElement.scrollHeight});
})()
"""


def find_chromium() -> str:
    for name in CANDIDATES:
        if path := shutil.which(name):
            return path
    raise FileNotFoundError("no Chromium found (tried " + ", ".join(CANDIDATES) + "); install it with "
                            "`apt-get update && apt-get install -y chromium` or run `make browser-check`, "
                            "which tries that once")


@dataclass
class PageResult:
    page: str
    width: int
    screenshot: Path
    broken: list[str] = field(default_factory=list)
    wide: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        out = [f"{self.page} @{self.width}px: image does not load: {src}" for src in self.broken]
        if self.width >= 1000:
            out += [f"{self.page} @{self.width}px: {w}" for w in self.wide]
        return out


class Browser:
    """One headless Chromium and one tab, driven over the DevTools websocket."""

    def __init__(self, executable: str | None = None) -> None:
        import websocket

        self._profile = tempfile.mkdtemp(prefix="xaibook-chromium-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self._proc = subprocess.Popen(
            [executable or find_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
             "--hide-scrollbars", "--no-first-run", "--allow-file-access-from-files",
             f"--remote-debugging-port={port}", f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            try:
                tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2))
                page = next(t for t in tabs if t.get("type") == "page")
                break
            except (OSError, StopIteration, ValueError):
                if time.time() > deadline:
                    self.close()
                    raise RuntimeError("headless Chromium did not start its DevTools endpoint within 30 s")
                time.sleep(0.3)
        self._ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self._id = 0
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method: str, **params):
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def _wait_load(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                state = self.call("Runtime.evaluate", expression="document.readyState", returnByValue=True)
            except RuntimeError:          # the old document is gone and the new one not there yet
                state = {"result": {}}
            if state["result"].get("value") == "complete":
                return
            time.sleep(0.1)
        raise TimeoutError("the page did not finish loading")

    def visit(self, url: str, width: int, shot: Path) -> dict:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                  mobile=width < 600)
        self.call("Page.navigate", url=url)
        time.sleep(0.1)
        self._wait_load()
        time.sleep(0.2)                                   # images decode after the load event
        found = json.loads(self.call("Runtime.evaluate", expression=PROBE, returnByValue=True)["result"]["value"])
        shot.parent.mkdir(parents=True, exist_ok=True)
        height = min(int(found["height"]), 16000)         # the whole page, up to a screenshot's sane size
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=width < 600)
        time.sleep(0.2)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        shot.write_bytes(base64.b64decode(data))
        return found

    def close(self) -> None:
        try:
            self._ws.close()
        except Exception:        # noqa: BLE001 (closing a socket that may be gone)
            pass
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        shutil.rmtree(self._profile, ignore_errors=True)


def pages(html: Path) -> list[Path]:
    skip = {"search.html", "genindex.html"}
    return [p for p in sorted(html.rglob("*.html")) if p.name not in skip and "_static" not in p.parts
            and "_sources" not in p.parts]


def check(html: str | Path = "_build/html", screens: str | Path = "_build/screens",
          widths: tuple[int, ...] = WIDTHS) -> list[PageResult]:
    html, screens = Path(html).resolve(), Path(screens)
    if not (html / "index.html").is_file():
        raise FileNotFoundError(f"no built book at {html}: run `make book` first")
    browser = Browser()
    results = []
    try:
        for page in pages(html):
            rel = page.relative_to(html)
            for width in widths:
                shot = screens / str(width) / rel.with_suffix(".png")
                found = browser.visit(page.as_uri(), width, shot)
                results.append(PageResult(rel.as_posix(), width, shot, found["broken"], found["wide"]))
    finally:
        browser.close()
    return results


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m xaibook.book.browser", description=__doc__.splitlines()[0])
    ap.add_argument("--html", default="_build/html")
    ap.add_argument("--screens", default="_build/screens")
    args = ap.parse_args(argv)
    results = check(args.html, args.screens)
    problems = [p for r in results for p in r.problems()]
    for p in problems:
        print(p)
    print(f"[browser-check] {len({r.page for r in results})} pages at {', '.join(map(str, WIDTHS))} px; "
          f"screenshots in {args.screens}/; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
