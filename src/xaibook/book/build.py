"""Build the book: execute chapters with papermill, write the scorecard, render with Jupyter Book 1.x.

Command line (what ``make book`` and ``make bands`` call)::

    python -m xaibook.book.build book  [--profile fast|paper] [--chapters "01_foam ..."] [--seed N]
    python -m xaibook.book.build bands --chapter 01_foam [--seeds 0 1 ... 9] [--kernels native avx2]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from .._utils.io import atomic_write_json, atomic_write_text
from .chapters import CHAPTERS, ready
from .claims import CLAIM_VERDICTS, VERDICTS, derive_bands, margin_text, rederive_bands
from ..kernels import KERNEL_PATHS, kernel_environment
from .profiles import check_profile


class ChapterFailed(RuntimeError):
    """A chapter notebook raised; the message names the chapter and the failing cell."""


@dataclass
class Executed:
    chapter: str
    notebook: Path
    seconds: float


def select(chapters: str | list[str] | None) -> list[str]:
    """Chapter ids from a space/comma separated string (empty: every chapter that is not a draft)."""
    if not chapters:
        return ready()
    ids = chapters.replace(",", " ").split() if isinstance(chapters, str) else list(chapters)
    for c in ids:
        CHAPTERS.get(c)
    return ids


def execute(chapters: list[str], *, profile: str, out_dir: Path, results_dir: Path,
            seed: int | None = None, root: Path | None = None, kernel: str | None = None,
            smoke: bool = False, data_dirs: dict[str, str] | None = None,
            device: str | None = None, extra_params: dict | None = None) -> list[Executed]:
    """Run each chapter's ``.ipynb`` with papermill into ``out_dir/notebooks``; stop at the first failure.

    ``kernel`` names a CPU kernel path (:data:`xaibook.kernels.KERNEL_PATHS`) for the notebook's
    process; None runs it as this process's environment says. ``smoke``: the paper profile's smoke
    run (``profile`` must be "paper"). ``data_dirs``: a data folder per chapter id (the notebook's
    ``data_dir``); ``device``: the notebooks' ``device``; ``extra_params``: any other parameters (they
    win over the rest: the tests pass bad values on purpose).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    check_profile(profile)
    root = root or paths.project_root()
    (out_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(data_dirs or {}) - set(chapters))
    if unknown:
        raise ValueError(f"data folders given for chapters not run: {unknown} (chapters: {chapters})")
    params = {"profile": profile, "results_dir": str(results_dir)}
    if seed is not None:
        params["seed"] = seed
    if smoke:
        params["smoke"] = True
    if device is not None:
        params["device"] = device
    params.update(extra_params or {})
    done = []
    for chapter in chapters:
        src = root / "notebooks" / f"{chapter}.ipynb"
        if not src.is_file():
            raise ChapterFailed(f"chapter {chapter}: {src} does not exist (run `jupytext --sync notebooks/{chapter}.py`)")
        dst = out_dir / "notebooks" / f"{chapter}.ipynb"
        t0 = time.perf_counter()
        print(f"[book] executing {chapter} (profile={profile}{', smoke' if smoke else ''}) ...", flush=True)
        try:
            with (kernel_environment(kernel) if kernel else contextlib.nullcontext()):
                chapter_params = {**params, **({"data_dir": str(Path(data_dirs[chapter]).resolve())}
                                               if chapter in (data_dirs or {}) else {})}
                papermill.execute_notebook(str(src), str(dst), parameters=chapter_params, cwd=str(root / "notebooks"),
                                           kernel_name="python3", progress_bar=False, log_output=False)
        except PapermillExecutionError as err:
            raise ChapterFailed(f"chapter {chapter} failed in cell {err.cell_index} (execution count "
                                f"{err.exec_count}): {err.ename}: {err.evalue}. The partly executed notebook "
                                f"is {dst}.") from err
        done.append(Executed(chapter, dst, time.perf_counter() - t0))
        print(f"[book] {chapter} done in {done[-1].seconds:.1f} s", flush=True)
    return done


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "–"
    if unit == "count":
        return f"{v:.0f}"
    return f"{v:.4g}" if unit not in ("%", "pp") else f"{v:.2f}"


def _spread_text(n: dict) -> str:
    s = n.get("spread")
    if not s:
        return "–"
    u = n["unit"]
    return f"{_fmt(s['mean'], u)} [{_fmt(s['lo'], u)}, {_fmt(s['hi'], u)}]"


VERDICT_CLASS = {"reproduced": "reproduced", "reproduced (this run)": "reproduced", "mixed": "mixed",
                 "differs": "differs", "differs (this run)": "differs", "not comparable": "na", "no paper value": "na"}


def _verdict_html(verdict: str) -> str:
    return f'<span class="verdict verdict-{VERDICT_CLASS.get(verdict, "na")}">{verdict}</span>'


def _count_html(count: int, verdict: str) -> str:
    """A count in its verdict's colour (plain when zero)."""
    return f'<span class="verdict verdict-{VERDICT_CLASS[verdict]}">{count}</span>' if count else "0"


def _anchor(chapter: str) -> str:
    return f"card-{chapter.replace('_', '-')}"


def claim_changed(c: dict, profile: str) -> bool:
    """A gated claim verdict that this run contradicts (held in derivation and fails now, or the reverse)."""
    return (profile in c["must_hold"] and not c["holds"]) or (profile in c.get("must_fail", []) and c["holds"])


def chapter_summary(r: dict) -> dict:
    """One chapter's line of the scorecard: numbers by verdict, claims by verdict, gated checks that failed."""
    numbers, claims = r["numbers"], r["claims"]
    verdicts = [n["verdict"].replace(" (this run)", "") for n in numbers]
    claim_verdicts = [c.get("verdict") or "this run only" for c in claims]
    gated_claims = [c for c in claims if c["must_hold"] or c.get("must_fail")]
    return {"reproduced": verdicts.count("reproduced"), "mixed": verdicts.count("mixed"),
            "differs": verdicts.count("differs"), "not comparable": verdicts.count("not comparable"),
            "beyond the paper": verdicts.count("no paper value"),
            "claims held": f"{sum(c['holds'] for c in claims)} of {len(claims)}",
            **{f"claims {v}": claim_verdicts.count(v) for v in CLAIM_VERDICTS},
            "claims gated": len(gated_claims),
            "verdicts changed": sum(claim_changed(c, r["profile"]) for c in claims),
            "out of band": sum(n["in_band"] is False for n in numbers),
            "gated": sum(n["band"] is not None for n in numbers)}


def scorecard_figure(results: list[dict], path: Path) -> Path | None:
    """Paper against ours for every percentage the paper reports: our mean over the derivation runs with
    its [min, max] (this run where there is no spread), one colour per chapter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 6.0))
    drawn = 0
    for i, r in enumerate(results):
        pts = [n for n in r["numbers"] if n["paper"] is not None and n["unit"] == "%"]
        if not pts:
            continue
        x = [n["paper"] for n in pts]
        y = [n["spread"]["mean"] if n.get("spread") else n["ours"] for n in pts]
        # max(0, ...): a mean of equal values can exceed them by a rounding error
        lo = [max(0.0, yy - (n["spread"]["lo"] if n.get("spread") else yy)) for n, yy in zip(pts, y)]
        hi = [max(0.0, (n["spread"]["hi"] if n.get("spread") else yy) - yy) for n, yy in zip(pts, y)]
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o", ms=4, capsize=2, alpha=0.8, color=f"C{i}",
                    label=f"{r['chapter']} ({len(pts)})")
        drawn += len(pts)
    if not drawn:
        plt.close(fig)
        return None
    ax.plot([0, 100], [0, 100], color="grey", lw=1, ls="--", label="ours = paper")
    ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="the paper's value (%)",
           ylabel="ours: mean over seeds x kernels, bar = [min, max] (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scorecard_markdown(results: list[dict], figure: str | None = None) -> str:
    """The 'Reproduction scorecard' page: a summary line per chapter, the paper-against-ours figure, then every
    number and claim of every chapter that ran."""
    out = ["# Reproduction scorecard", "",
           "Generated by `make book` from `results/<chapter>.json`, which each chapter writes when it runs.", ""]
    if not results:
        return "\n".join(out + ["No chapter has run yet."]) + "\n"
    out += ["## At a glance", "",
            "One line per chapter. *Numbers*: how many of the paper's numbers we reproduced, came close to, or "
            "missed. *Claims*: each claim's verdict over the derivation runs (holds / fails / no effect / "
            "undecided). *Gated*: the numbers outside their band and the claims whose verdict this build "
            "contradicts (0 and 0 is a pass).", "",
            "| chapter | gated: out of band; verdicts changed | claims: holds / fails / no effect / undecided | "
            "numbers: reproduced / mixed / differs | beyond the paper | profile, data |",
            "|---|---|---|---|---|---|"]
    for r in results:
        sm = chapter_summary(r)
        short = (CHAPTERS.get(r["chapter"]).short if r["chapter"] in CHAPTERS else "") or r["chapter"]
        band = f"**{sm['out of band']}** of {sm['gated']}" if sm["out of band"] else f"0 of {sm['gated']}"
        changed = (f"**{sm['verdicts changed']}** of {sm['claims gated']}" if sm["verdicts changed"]
                   else f"0 of {sm['claims gated']}")
        out.append(f"| [{short}](../notebooks/{r['chapter']}.ipynb) ([card](#{_anchor(r['chapter'])})) | "
                   f"{band}; {changed} | {sm['claims holds']} / {sm['claims fails']} / "
                   f"{sm['claims no effect']} / {sm['claims undecided']} | "
                   f"{_count_html(sm['reproduced'], 'reproduced')} / "
                   f"{_count_html(sm['mixed'], 'mixed')} / {_count_html(sm['differs'], 'differs')} | "
                   f"{sm['beyond the paper']} | {r['profile']}, {r['data']} |")
    out += ["", "**Columns.** *reproduced*: the paper's value lies within the chapter's tolerance of our mean over "
            "the derivation runs; *mixed*: only some runs come that close; *differs*: no run does; numbers without "
            "a stated tolerance (a different setting) are counted in the chapter's card only; *beyond the paper*: "
            "numbers the paper does not report. Numbers from synthetic stand-ins test the paper's *method*, not "
            "its data: read them with the chapter's text.", "",
            "**Claim verdicts** come from the prediction interval of each claim's margin (its quantity minus its "
            "threshold) over the derivation runs:", ""]
    out += [f"- *{k}*: {v}." for k, v in CLAIM_VERDICTS.items()]
    out.append("")
    if figure:
        out += [f"```{{figure}} {figure}", ":name: fig-scorecard", ":alt: Scatter plot of each percentage the paper "
                "reports against ours, one colour per chapter, with our range over seeds and CPU kernel paths as "
                "error bars and the diagonal where ours equals the paper's.", ":width: 560px", "",
                "Every percentage a paper reports (x) against ours (y): our mean over the runs that derived the "
                "fast profile's bands, the bar spanning their minimum and maximum. On the dashed diagonal ours "
                "equals the paper's.", "```", ""]
    out += ["## Every number and claim", "",
            "*ours* is what this build measured; *ours over runs* our mean and range over the runs that derived the "
            "fast profile's bands (several seeds, each on two CPU kernel paths); *band* the interval a new "
            "fast-profile run must land in, for the gated numbers (a prediction interval with a suite-wide 1% "
            "chance of a false alarm, see `make bands`).", "", "**Verdicts** compare the paper's value with our "
            "distribution, not with one seed:", ""]
    out += [f"- {_verdict_html(k)}: {v}." for k, v in VERDICTS.items()]
    out.append("")
    for r in results:
        prov = r["provenance"]
        title = CHAPTERS.get(r["chapter"]).title if r["chapter"] in CHAPTERS else r["chapter"]
        cpu = (f"{prov['cpu']}, torch capability {prov['capability']}, {prov['threads']} threads, "
               f"kernel path {prov['kernel_path']}") if "cpu" in prov else prov["device"]
        out += [f"({_anchor(r['chapter'])})=", f"### {r['chapter']}: {title}", "",
                f"[Read the chapter](../notebooks/{r['chapter']}.ipynb). Profile **{r['profile']}**, data "
                f"**{r['data']}**, seed {prov['seed']}, commit `{prov['commit']}`, {cpu}, "
                f"{prov['wall_time_s']:.0f} s.", ""]
        effect = r.get("bands", {}).get("kernel_effect")
        summary = r.get("bands", {}).get("runs_summary")
        if effect and summary:
            out += [f"{effect['sentence']} Our spread comes from {summary['n']} runs: seeds "
                    f"{summary['seeds'][0]}-{summary['seeds'][-1]} on the kernel paths {', '.join(summary['kernels'])}; "
                    f"{summary['gated_numbers']} numbers and {summary['gated_claims']} claims are gated.", ""]
        out += ["| quantity | in band | verdict | paper | ours | band (gated) | delta | ours over runs: mean [min, max] |",
                "|---|---|---|---|---|---|---|---|"]
        for n in r["numbers"]:
            band = "–" if n["band"] is None else f"[{_fmt(n['band'][0], n['unit'])}, {_fmt(n['band'][1], n['unit'])}]"
            inb = {True: "yes", False: "**NO**", None: "–"}[n["in_band"]]
            out.append(f"| {n['label']} | {inb} | {_verdict_html(n['verdict'])} | {_fmt(n['paper'], n['unit'])} | "
                       f"{_fmt(n['ours'], n['unit'])} | {band} | {_fmt(n['delta'], n['unit'])} | {_spread_text(n)} |")
        out += ["", "| claim of the paper | this run | verdict over runs | gated | margin: interval (held) | evidence |",
                "|---|---|---|---|---|---|"]
        for c in r["claims"]:
            here = "holds" if c["holds"] else "fails"
            here = f"**{here}**" if claim_changed(c, r["profile"]) else here
            gated = "yes" if (c["must_hold"] or c.get("must_fail")) else "no"
            out.append(f"| {c['statement']} | {here} | {c.get('verdict') or '–'} | {gated} | "
                       f"{margin_text(c.get('interval'), c.get('held', ''))} | {c['evidence']} |")
        out.append("")
    return "\n".join(out) + "\n"


def load_results(results_dir: Path, chapters: list[str]) -> list[dict]:
    return [json.loads((results_dir / f"{c}.json").read_text()) for c in chapters
            if (results_dir / f"{c}.json").is_file()]


#: code cells folded on the page (the reader can expand them): the Colab install and the setup cell
PLUMBING = ("google.colab", "start_chapter(")


def stage_notebook(src: Path, dst: Path) -> Path:
    """Copy a notebook for rendering as a reader should see it.

    papermill's injected-parameters cell (it holds the build's paths) is removed from the page; the
    plumbing cells (:data:`PLUMBING`) are folded; under the title, links to the chapter's clean
    notebook and its ``.py`` pair (``downloads/``, copied by :func:`render`).
    """
    nb = json.loads(src.read_text(encoding="utf-8"))
    cells = []
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        source = "".join(cell.get("source", ""))
        if "injected-parameters" in tags:
            continue
        if cell["cell_type"] == "code" and any(p in source for p in PLUMBING) and "hide-input" not in tags:
            tags.append("hide-input")
        cells.append(cell)
    stem = dst.stem
    links = {"cell_type": "markdown", "metadata": {},
             "source": [f'*Take this chapter with you:* <a href="../downloads/{stem}.ipynb" download>the notebook '
                        f'without outputs (.ipynb)</a> · <a href="../downloads/{stem}.py" download>its paired script '
                        f'(.py)</a> · the executed notebook, from the download button at the top of the page.']}
    nb["cells"] = cells[:1] + [links] + cells[1:]
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    return dst


def render(executed: list[Executed], results_dir: Path, *, root: Path | None = None) -> Path:
    """Stage the book (executed notebooks in place of the clean ones) and build HTML into ``_build/html``."""
    root = root or paths.project_root()
    stage = root / "_build" / "stage"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, stage / name)
    shutil.copytree(root / "book", stage / "book")
    (stage / "notebooks").mkdir()
    (stage / "downloads").mkdir()
    executed_ids = {e.chapter for e in executed}
    for e in executed:
        stage_notebook(e.notebook, stage / "notebooks" / e.notebook.name)
    for nb in (root / "notebooks").glob("*.ipynb"):   # chapters not executed appear without outputs
        if nb.stem not in executed_ids:
            stage_notebook(nb, stage / "notebooks" / nb.name)
        shutil.copy2(nb, stage / "downloads" / nb.name)                       # the clean notebook
        shutil.copy2(nb.with_suffix(".py"), stage / "downloads" / f"{nb.stem}.py")   # its jupytext pair
    results = load_results(results_dir, CHAPTERS.names())
    figure = scorecard_figure(results, stage / "book" / "scorecard_paper_vs_ours.png")
    atomic_write_text(stage / "book" / "scorecard.md", scorecard_markdown(results, figure and figure.name))
    # the console script installed next to this interpreter (jupyter_book has no __main__)
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(stage), "--path-output", str(root),
           "--builder", "html"]
    html = root / "_build" / "html"
    if html.exists():             # every build starts empty: no stale image of an earlier build survives
        shutil.rmtree(html)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    # the chapters' links point at html/downloads/ (plain files: Sphinx would take a .ipynb for a page)
    shutil.copytree(stage / "downloads", html / "downloads")
    return html


def parse_data_dirs(items: list[str]) -> dict[str, str]:
    """``["01_foam=/data/foam", ...]`` -> ``{"01_foam": "/data/foam"}``; each folder must exist."""
    out = {}
    for item in items:
        chapter, sep, folder = item.partition("=")
        if not sep or not folder:
            raise ValueError(f"--data-dir {item!r}: write CHAPTER=FOLDER, e.g. 05_feature_cam=/data/imagenette2/val")
        CHAPTERS.get(chapter)
        if not Path(folder).expanduser().is_dir():
            raise FileNotFoundError(f"--data-dir {item!r}: {folder} is not a folder")
        out[chapter] = str(Path(folder).expanduser())
    return out


def book(profile: str, chapters: str | None, seed: int | None = None, data_dirs: dict[str, str] | None = None,
         device: str | None = None) -> Path:
    root = paths.project_root()
    ids = select(chapters)
    t0 = time.perf_counter()
    results_dir = paths.results_dir()
    executed = execute(ids, profile=profile, out_dir=root / "_build" / "executed", results_dir=results_dir, seed=seed,
                       data_dirs=data_dirs, device=device)
    t1 = time.perf_counter()
    html = render(executed, results_dir, root=root)
    t2 = time.perf_counter()
    print("\n[book] wall time per chapter")
    for e in executed:
        print(f"[book]   {e.chapter:<20s} {e.seconds:7.1f} s")
    print(f"[book]   {'render':<20s} {t2 - t1:7.1f} s")
    print(f"[book]   {'total':<20s} {t2 - t0:7.1f} s")
    print(f"[book] open {html / 'index.html'}")
    return html


DEFAULT_SEEDS = list(range(10))
DEFAULT_KERNELS = ["native", "avx2"]


def bands(chapter: str, seeds: list[int], kernels: list[str] | None = None) -> Path:
    """Run ``chapter`` in the fast profile once per seed and kernel path; commit bands derived from all runs.

    Each run executes in its own notebook process under its kernel path's environment
    (:func:`xaibook.kernels.kernel_environment`); its provenance (CPU, torch's capability, threads,
    BLAS) is recorded in the bands file beside its numbers.
    """
    kernels = list(kernels or DEFAULT_KERNELS)
    for k in kernels:
        KERNEL_PATHS.get(k)
    if len(set(seeds)) < 2 or len(set(kernels)) < 1:
        raise ValueError("bands need at least two seeds and one kernel path")
    root = paths.project_root()
    runs = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for s in seeds:
            for k in kernels:
                res = Path(tmp) / f"seed{s}-{k}"
                execute([chapter], profile="fast", out_dir=res, results_dir=res, seed=s, root=root, kernel=k)
                r = json.loads((res / f"{chapter}.json").read_text())
                prov = {key: r["provenance"].get(key) for key in
                        ("cpu", "capability", "onednn_isa", "threads", "blas", "commit", "wall_time_s")}
                runs.append({"seed": s, "kernel": k, "provenance": prov,
                             "numbers": {n["key"]: n for n in r["numbers"]},
                             "claims": {c["key"]: c for c in r["claims"]}})
    seen = {}
    for r in runs:     # two kernel paths that ran the same kernels here add no information
        isa = r["provenance"]["onednn_isa"]     # "native" runs the machine's best: on an AVX2-only CPU that is AVX2
        sig = (r["provenance"]["capability"] if isa == "native" else isa, r["provenance"]["threads"])
        if seen.setdefault(r["kernel"], sig) != sig:
            raise RuntimeError(f"kernel path {r['kernel']} ran with different settings across seeds: {sig}")
    if len(set(seen.values())) < len(seen):
        print(f"[bands] WARNING: kernel paths {sorted(seen)} are not all distinct on this machine: {seen}. The "
              f"bands cover fewer kernel paths than the committed ones may; where a path this machine cannot run "
              f"moved a number, keep its coverage with scripts/keep_kernel_coverage.py OLD NEW", file=sys.stderr)
    derived = derive_bands(runs)
    derived["derivation_wall_time_s"] = round(time.perf_counter() - t0, 1)
    out = root / "src" / "xaibook" / "bands" / f"{chapter}.json"
    atomic_write_json(out, derived)
    summary = derived["runs_summary"]
    print(f"[bands] {chapter}: {summary['n']} runs in {derived['derivation_wall_time_s']:.0f} s; "
          f"{summary['gated_numbers']} numbers and {summary['gated_claims']} claims gated")
    print(f"[bands] {derived['kernel_effect']['sentence']}")
    print(f"[bands] wrote {out.relative_to(root)}")
    return out


def regate(chapter: str) -> Path:
    """Gate a chapter's committed bands again from the runs they record, without running anything.

    For a change of the gating rule (coverage, informativeness, a claim's resolution); a change of
    the chapter's numbers needs new runs (:func:`bands`). Each claim's ``resolution`` is taken from
    ``results/<chapter>.json`` when that file has one (what the chapter's current code declares).
    """
    root = paths.project_root()
    path = root / "src" / "xaibook" / "bands" / f"{chapter}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: derive it first with `make bands CHAPTER={chapter}`")
    recorded = json.loads(path.read_text())
    latest = paths.results_dir() / f"{chapter}.json"
    if latest.is_file():
        declared = {c["key"]: c.get("resolution") for c in json.loads(latest.read_text())["claims"]}
        for key, c in recorded["claims"].items():
            if declared.get(key) is not None:
                c["resolution"] = declared[key]
    derived = rederive_bands(recorded)
    atomic_write_json(path, derived)
    summary = derived["runs_summary"]
    print(f"[bands] {chapter}: re-gated {summary['n']} recorded runs; {summary['gated_numbers']} numbers and "
          f"{summary['gated_claims']} claims gated")
    return path


def strip_outputs(paths: list[str | Path]) -> list[Path]:
    """Remove outputs and execution counts from notebooks in place (atomically); returns those changed."""
    import nbformat

    changed = []
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        dirty = False
        for cell in nb.cells:
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
                cell.outputs, cell.execution_count, dirty = [], None, True
        if dirty:
            atomic_write_text(path, nbformat.writes(nb) + "\n")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m xaibook.book.build")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("book", help="execute chapters and render the book")
    b.add_argument("--profile", default="fast")
    b.add_argument("--chapters", default="")
    b.add_argument("--seed", type=int, default=None)
    b.add_argument("--data-dir", action="append", default=[], metavar="CHAPTER=FOLDER",
                   help="a chapter's data folder (repeatable); default: data/<chapter>/real for the paper profile")
    b.add_argument("--device", default=None, help="the notebooks' device (cpu, cuda); default: each notebook's")
    d = sub.add_parser("bands", help="derive the fast profile's bands from several seeds")
    d.add_argument("--chapter", required=True)
    d.add_argument("--seeds", type=int, nargs="+", default=DEFAULT_SEEDS)
    d.add_argument("--kernels", nargs="+", default=DEFAULT_KERNELS, help=f"kernel paths: {KERNEL_PATHS.names()}")
    d.add_argument("--regate", action="store_true", help="gate the recorded runs again (a new rule), run nothing")
    st = sub.add_parser("strip", help="remove outputs from notebooks in place")
    st.add_argument("notebooks", nargs="+")
    c = sub.add_parser("conclusions", help="print a run's closing section, rendered from its results file")
    c.add_argument("results", nargs="+", help="results/<chapter>.json files")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "conclusions":
            from .notebook import render_conclusions

            for path in args.results:
                print(render_conclusions(path))
        elif args.cmd == "strip":
            for path in strip_outputs(args.notebooks):
                print(f"[strip] {path}")
        elif args.cmd == "book":
            book(args.profile, args.chapters, args.seed, parse_data_dirs(args.data_dir), args.device)
        elif args.regate:
            regate(args.chapter)
        else:
            bands(args.chapter, args.seeds, args.kernels)
    except ChapterFailed as err:
        print(f"[book] FAILED: {err}", file=sys.stderr)
        return 1
    except (ValueError, KeyError, FileNotFoundError) as err:      # bad arguments: no traceback
        print(f"[book] {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
