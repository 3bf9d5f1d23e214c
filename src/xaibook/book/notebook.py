"""Helpers that every chapter notebook uses to show and glue its results."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from IPython.display import Markdown

#: the glued values of the chapter run in progress (:func:`start_chapter` opens a new one, the
#: scorecard's results file keeps them under "glue")
_glued: dict[str, Any] = {}
#: a glue role in a chapter's prose: ``{glue:text}`name:.1f``` or ``{glue:md}`name```
GLUE_ROLE = re.compile(r"\{glue:(text|md)\}`([A-Za-z0-9_]+)(?::([^`]*))?`")
CLOSING_HEADING = "## What reproduced and what did not"


def glue(name: str, value: Any) -> Any:
    """Glue a value for the chapter's prose (MyST-NB); strings are glued as Markdown.

    In the text: ``{glue:text}`name:.1f``` for numbers, ``{glue:md}`name``` for strings. The value is
    also kept for the run's results file, from which :func:`render_conclusions` renders the chapter's
    closing section again.
    """
    import numpy as np
    from myst_nb import glue as _glue

    if isinstance(value, np.generic):      # np.float64's repr would reach the page instead of the number
        value = value.item()
    if not isinstance(value, (str, int, float, bool)):
        raise TypeError(f"glue({name!r}): a number or a string, not {type(value).__name__}")
    _glue(name, Markdown(value) if isinstance(value, str) else value, display=False)
    _glued[name] = value
    return value


def closing_section(chapter: str, root: str | Path | None = None) -> str:
    """The Markdown of a chapter's closing section ("What reproduced and what did not"), its glue roles
    unfilled, from ``notebooks/<chapter>.py`` (the percent-format source)."""
    from .. import paths

    src = (Path(root) if root else paths.project_root()) / "notebooks" / f"{chapter}.py"
    text = src.read_text()
    if CLOSING_HEADING not in text:
        raise ValueError(f"{src} has no closing section ({CLOSING_HEADING!r})")
    part = text.split(CLOSING_HEADING, 1)[1]
    part = re.split(r"\n# %%(?! \[markdown\])|\n# ## ", part)[0]          # up to the next code cell or section
    lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in part.splitlines()
             if not ln.startswith("# %%")]
    return (CLOSING_HEADING[3:] + "\n" + "\n".join(lines)).strip() + "\n"


def render_glued(text: str, values: dict[str, Any], *, where: str = "") -> str:
    """Fill the glue roles of ``text`` from ``values`` as MyST-NB would: ``{glue:text}`name:fmt``` with
    Python's format spec, ``{glue:md}`name``` as the string itself. A name with no value is an error."""
    missing = sorted({m.group(2) for m in GLUE_ROLE.finditer(text)} - set(values))
    if missing:
        raise KeyError(f"{where or 'text'}: no glued value for {missing} (was the run's results file written "
                       "by an older version? run the chapter again)")

    def fill(m: re.Match) -> str:
        value = values[m.group(2)]
        return format(value, m.group(3)) if m.group(3) else str(value)

    return GLUE_ROLE.sub(fill, text)


def glued_in_notebook(path: str | Path) -> dict[str, Any]:
    """The values an executed notebook glued, read back from its outputs (MyST-NB keeps each as a display
    output named in ``metadata.scrapbook``): Markdown as its string, numbers parsed from their repr. For a
    run that writes no results file (a smoke run), the same values its results file would hold."""
    import ast

    import nbformat

    out: dict[str, Any] = {}
    for cell in nbformat.read(str(path), as_version=4).cells:
        for o in cell.get("outputs", []):
            record = o.get("metadata", {}).get("scrapbook", {})
            if "name" not in record:
                continue
            prefix = record.get("mime_prefix", "")      # "application/papermill.record/" as MyST-NB writes it
            data = {k[len(prefix):]: v for k, v in o.get("data", {}).items() if k.startswith(prefix)}
            out[record["name"]] = (data["text/markdown"] if "text/markdown" in data
                                   else ast.literal_eval(data["text/plain"]))
    return out


def render_conclusions(results: dict[str, Any] | str | Path, root: str | Path | None = None) -> str:
    """A chapter's closing section rendered from a results file (``results/<chapter>.json``, or its
    dict): the conclusions of that run, in any profile, without executing the notebook again."""
    import json

    where = str(results) if isinstance(results, (str, Path)) else "results"
    if isinstance(results, (str, Path)):
        if not Path(results).is_file():
            raise FileNotFoundError(f"{where}: no such results file; run the chapter first (make book, or papermill)")
        try:
            r = json.loads(Path(results).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{where}: not a readable results file ({err}); run the chapter again to rewrite it") from err
    else:
        r = results
    if not isinstance(r, dict) or "chapter" not in r:
        raise ValueError(f"{where}: not a chapter's results file (no 'chapter' key); run the chapter again to rewrite it")
    if "glue" not in r:
        raise KeyError(f"{where}: no glued values (written before results files kept them); run the chapter again")
    return render_glued(closing_section(r["chapter"], root), r["glue"], where=where)


def frame_html(df) -> str:
    """A DataFrame as the book shows it: missing values as "–", whole-number float columns as integers,
    other floats at ``display.precision`` decimals, every cell's full text (wrapped by the book's CSS)."""
    import numpy as np
    import pandas as pd

    precision = pd.get_option("display.precision")
    shown = df.copy()
    for col in shown.columns:
        values = shown[col]
        if pd.api.types.is_float_dtype(values):
            finite = values.dropna()
            if len(finite) and np.all(np.isfinite(finite)) and np.all(finite == np.round(finite)) and \
                    finite.abs().max() < 1e15:
                shown[col] = values.astype("Int64")
    text = shown.to_html(na_rep="–", float_format=lambda v: f"{v:.{precision}f}", classes="xaibook-table",
                         border=0, escape=True, max_rows=200)
    return text.replace(">None<", ">–<").replace(">nan<", ">–<").replace(">&lt;NA&gt;<", ">–<")


def setup_display() -> None:
    """How every chapter shows tables: full cell text (no "..."), missing values as "–", counts as integers
    (:func:`frame_html`); a cell's last value is not echoed. Called by :func:`start_chapter`."""
    import pandas as pd

    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_columns", 50)
    try:
        from IPython import get_ipython
    except ImportError:        # pragma: no cover
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, frame_html)
        # only what a cell displays reaches the page: no repr of a cell's last value
        # (a matplotlib Text, a recorded number), since every table is shown with display()
        shell.ast_node_interactivity = "none"


def shown_path(path) -> str:
    """``path`` as the reader may see it: relative to the repository when inside it, else its name."""
    from pathlib import Path

    from .. import paths

    path = Path(path).resolve()
    try:
        return path.relative_to(paths.project_root()).as_posix()
    except ValueError:
        return path.name


def provenance_tag(profile: str, data: str, smoke: bool = False) -> str:
    """The label every figure and table carries: which profile and which data produced it."""
    if smoke:
        return f"{profile} profile SMOKE RUN on {data} stand-in items: a code-path check, not a result"
    return f"{profile} profile, {data} data"


class ParameterError(ValueError):
    """A notebook parameter is invalid; the message names it, the valid values and the fix."""


def check_parameters(chapter: str, *, profile: str, data: str | None, seed: int, device: str,
                     data_dir: str | None = None, smoke: bool = False) -> None:
    """Check a chapter's parameters before any work, each error naming the parameter and the fix."""
    from pathlib import Path

    from .claims import DATA_KINDS
    from .profiles import PROFILES

    if profile not in PROFILES:
        raise ParameterError(f"profile={profile!r} is not a profile of chapter {chapter}; use one of "
                             f"{', '.join(map(repr, PROFILES))}")
    if data is not None and data not in DATA_KINDS:
        raise ParameterError(f"data={data!r} is not a data kind; use one of {', '.join(map(repr, DATA_KINDS))} "
                             f"or None (the profile's default)")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError(f"seed={seed!r} must be a non-negative integer (e.g. -p seed 0)")
    if not isinstance(smoke, bool):
        raise ParameterError(f"smoke={smoke!r} must be True or False")
    if smoke and profile != "paper":
        raise ParameterError(f"smoke=True checks the paper profile's code path; set profile='paper' "
                             f"(got profile={profile!r})")
    _check_device(device)
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ParameterError(f"data_dir={str(data_dir)!r} is not a folder; point it at the chapter's data "
                             f"(README, chapter {chapter}) or leave it None for the default")


def _check_device(device: str) -> None:
    import re

    import torch

    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?|mps", device):
        raise ParameterError(f"device={device!r} is not a device; use 'cpu', 'cuda' (or 'cuda:N') or 'mps'")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ParameterError(f"device={device!r} but PyTorch sees no CUDA GPU here; use device='cpu', or on "
                                 f"Colab choose Runtime > Change runtime type > GPU and restart")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ParameterError(f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) are "
                                 f"visible; use 'cuda:0'")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ParameterError("device='mps' but PyTorch sees no Apple GPU here; use device='cpu'")


@dataclass
class ChapterRun:
    """What every chapter sets up first: its data kind, settings, generator, scorecard and tag."""

    data: str
    cfg: Any
    generator: Any
    card: Any
    tag: str
    smoke: bool = False
    data_seed: int = 0


def start_chapter(chapter: str, *, profile: str, data: str | None, seed: int, device: str,
                  results_dir: str | None, settings: Callable[..., Any], data_dir: str | None = None,
                  smoke: bool = False, data_seed: int = 0) -> ChapterRun:
    """Check the parameters (:func:`check_parameters`), resolve the data kind (the chapter's fast data
    for fast, synthetic for a smoke run, real for paper), seed everything, open the scorecard.

    A smoke run (``profile="paper", smoke=True``) takes ``settings(profile, smoke=True)``: the paper's
    code path on a handful of stand-in items; its scorecard writes no results file.
    Also glues ``tag`` (the provenance label) for the chapter's prose.

    ``seed`` draws everything about training (initial weights, order, augmentation); ``data_seed``
    draws the stand-in and the data split. The fast profile keeps ``data_seed`` at 0: its bands then
    measure what training and CPU kernels do, on one fixed draw of the simulator.
    """
    from .._utils.seed import seed_everything
    from .claims import Scorecard

    from .chapters import CHAPTERS

    check_parameters(chapter, profile=profile, data=data, seed=seed, device=device, data_dir=data_dir, smoke=smoke)
    if isinstance(data_seed, bool) or not isinstance(data_seed, int) or data_seed < 0:
        raise ParameterError(f"data_seed={data_seed!r} must be a non-negative integer (e.g. -p data_seed 0)")
    setup_display()
    default = CHAPTERS.get(chapter).fast_data if chapter in CHAPTERS else "synthetic"
    data = data or (default if profile == "fast" else "synthetic" if smoke else "real")
    cfg = settings(profile, smoke=True) if smoke else settings(profile)
    generator = seed_everything(seed)
    card = Scorecard(chapter, profile=profile, data=data, seed=seed, device=device, results_dir=results_dir,
                     smoke=smoke, data_seed=data_seed)
    global _glued
    _glued = card.glued                 # what this run glues, its results file keeps
    tag = glue("tag", provenance_tag(profile, data, smoke))
    return ChapterRun(data, cfg, generator, card, tag, smoke, data_seed)


def show_scorecard(card) -> None:
    """A chapter's closing scorecard: the spread note, the numbers and claims tables; writes the results file
    and prints the numbers out of band and the gated claims whose verdict this run contradicts."""
    from IPython.display import Markdown, display

    display(Markdown(card.spread_note()))
    display(card.numbers_frame())
    display(card.claims_frame())
    written = card.write()
    print(f"wrote {shown_path(written)}" if written else "smoke run: no results file written (nothing here is a result)")
    print("out of band, or a gated claim verdict contradicted:", card.failures() or "none")


def print_peak(profile: str, model, input_shape: tuple[int, ...], *, label: str = "", **options: Any) -> None:
    """Before a paper-profile run, print the model's estimated peak memory per step
    (:func:`xaibook.saliency.estimate_peak`: training at ``train_batch``, saliency at
    ``saliency_batch`` inputs per pass), so that a student sees before the GPU fills whether the
    run fits. The fast profile prints nothing. Used in every chapter."""
    if profile != "paper":
        return
    from ..saliency import estimate_peak

    print(f"{label}: " * bool(label) + str(estimate_peak(model, input_shape, **options)))
