"""The claims registry: every reproduced number beside the paper's, every claim as a check.

A chapter opens a :class:`Scorecard`, records numbers and claims while it runs, and writes
``results/<chapter>.json`` atomically at the end. The bands for the ``fast`` profile live in
``xaibook/bands/<chapter>.json``; ``make bands`` derives them from runs over seeds x CPU kernel
paths (:func:`derive_bands`, :mod:`xaibook.kernels`) and they are committed. A gated number
outside its band, or a claim that must hold in the current profile and does not, makes the test
suite fail. Every number also carries our spread over the derivation runs, and its verdict
compares the paper's value with that spread (:data:`VERDICTS`).

Schema of the results file (one per chapter)::

    {"chapter", "profile", "data": "synthetic" | "real",
     "provenance": {"seed", "commit", "versions", "device", "cpu", "capability", "onednn_isa",
                    "threads", "blas", "kernel_path", "wall_time_s"},
     "bands": {"runs_summary", "rule", "kernel_effect"},
     "numbers": [{"key", "label", "paper", "ours", "unit", "delta", "tolerance", "band": [lo, hi] | null,
                  "in_band": bool | null, "gated", "spread": {"mean", "lo", "hi", "n"} | null,
                  "gate_reason", "verdict", "source"}],
     "claims":  [{"key", "statement", "holds", "margin", "must_hold": [...], "held", "gate_reason",
                  "evidence", "source"}]}
"""
from __future__ import annotations

import json
import math
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .. import paths
from .._utils.io import atomic_write_json

PROFILES = ("fast", "paper")
DATA_KINDS = ("synthetic", "real")
#: natural ranges: a band never leaves them, and "informative" is judged against them
LIMITS = {"%": (0.0, 100.0), "fraction": (0.0, 1.0), "count": (0.0, math.inf)}
#: The least distance from every derivation run to a band's edge, per unit: an allowance for CPUs,
#: BLAS builds and thread counts the derivation did not run on. The fast profiles of 01, 02 and 04
#: fit a convex head, so their runs agree to ~1e-4 on the two kernel paths measured; a machine we
#: have not seen may move an image across a threshold (a confident set, an argmax) as well. One
#: point of a percentage is about one item of the smallest evaluation sets, 0.01 of a fraction is
#: 75 times the largest kernel-path difference measured (chapter 04: 1.3e-4), a count may move by 1.
#: Other units: 1% of the mean's magnitude. Ignored by the saliency check of a fixed model
#: (tests/test_post_training.py), which compares at the float tolerance it measured.
MACHINE_FLOOR = {"%": 1.0, "pp": 1.0, "fraction": 0.01, "count": 1.0}
#: chance that a correct build fails anywhere in the suite on a new machine (all chapters together)
SUITE_ALPHA = 0.01
#: chapters the suite will hold (five papers); each gets an equal share of SUITE_ALPHA
SUITE_CHAPTERS = 5

VERDICTS = {
    "reproduced": "the paper's value is within the chapter's tolerance of our mean over the derivation runs",
    "mixed": "some of our runs come within the tolerance of the paper's value, our mean does not",
    "differs": "every derivation run is farther from the paper's value than the tolerance",
    "reproduced (this run)": "no derivation runs to compare with: this run is within the tolerance",
    "differs (this run)": "no derivation runs to compare with: this run is outside the tolerance",
    "not comparable": "the paper reports this number but the chapter states no tolerance (a different setting)",
    "no paper value": "the paper reports no such number (beyond the paper)",
}


@dataclass(frozen=True)
class Spread:
    """Our distribution of a number over the derivation runs (seeds x kernel paths)."""

    mean: float
    lo: float
    hi: float
    n: int

    def text(self, unit: str = "") -> str:
        f = _fmt_unit(unit)
        return f"{f(self.mean)} [{f(self.lo)}, {f(self.hi)}] (n={self.n})"


def _fmt_unit(unit: str):
    if unit in ("%", "pp"):
        return lambda v: f"{v:.1f}"
    if unit == "count":
        return lambda v: f"{v:.0f}"
    return lambda v: f"{v:.3g}"


def verdict(paper: float | None, tolerance: float | None, ours: float, spread: Spread | None) -> str:
    """Agreement of the paper's value with our *distribution* (keys and meanings: :data:`VERDICTS`)."""
    if paper is None:
        return "no paper value"
    if tolerance is None:
        return "not comparable"
    if spread is None:
        return "reproduced (this run)" if abs(ours - paper) <= tolerance else "differs (this run)"
    if abs(spread.mean - paper) <= tolerance:
        return "reproduced"
    if spread.lo - tolerance <= paper <= spread.hi + tolerance:
        return "mixed"
    return "differs"


@dataclass
class Number:
    key: str
    label: str
    paper: float | None
    ours: float
    unit: str = ""
    tolerance: float | None = None
    band: list[float] | None = None
    source: str = ""
    gated: bool = True
    spread: Spread | None = None
    gate_reason: str = ""

    @property
    def delta(self) -> float | None:
        return None if self.paper is None else self.ours - self.paper

    @property
    def in_band(self) -> bool | None:
        if self.band is None:
            return None
        lo, hi = self.band
        return bool(lo <= self.ours <= hi)

    @property
    def verdict(self) -> str:
        return verdict(self.paper, self.tolerance, self.ours, self.spread)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(delta=self.delta, in_band=self.in_band, verdict=self.verdict)
        return d


@dataclass
class Claim:
    key: str
    statement: str
    holds: bool
    must_hold: list[str] = field(default_factory=list)
    evidence: str = ""
    source: str = ""
    gated: bool = True
    margin: float | None = None
    held: str = ""
    gate_reason: str = ""
    resolution: float | None = None
    verdict: str = ""                     # over the derivation runs (CLAIM_VERDICTS); "" without bands
    interval: list[float] | None = None   # the margin's prediction interval over the derivation runs
    must_fail: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """A gated verdict that this run contradicts: it held in derivation and fails here, or the reverse."""
        return (not self.holds and bool(self.must_hold)) or (self.holds and bool(self.must_fail))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ClaimCheck:
    """A claim of a paper checked on one run: what a chapter module's claim function returns and
    :meth:`Scorecard.record` registers (the arguments of :meth:`Scorecard.claim`)."""

    key: str
    statement: str
    holds: bool
    margin: float | None = None
    evidence: str = ""
    source: str = ""
    gate: bool = True
    why: str = ""
    resolution: float | None = None   # the smallest margin that matters: inside ±resolution is "no effect"


#: A claim's verdict over the derivation runs, from the prediction interval of its margin (the claim's
#: quantity minus its threshold, positive when it holds). "holds" and "fails" are gated both ways.
CLAIM_VERDICTS = {
    "holds": "the margin's prediction interval lies above zero: a new run on any machine should hold",
    "fails": "the interval lies below zero: the claim decisively does not reproduce here",
    "no effect": "the interval straddles zero but lies within the claim's resolution: no effect at this resolution",
    "undecided": "the interval straddles zero and is wider than the claim's resolution: more runs or less noise needed",
    "not gated": "the chapter never gates it (e.g. speed, which depends on the machine)",
}


#: Adebayo et al.'s sanity checks as claims: a map depends on the model (or on the labels) when its mean
#: Spearman correlation of |map| with the trained model's falls below this; the claims' resolution.
SANITY_THRESHOLD = 0.5
SANITY_RESOLUTION = 0.02


def _slug(label: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "_", label.lower().replace("++", "pp")).strip("_")


def randomisation_claims(summary, model: str = "the classifier", threshold: float = SANITY_THRESHOLD,
                         resolution: float = SANITY_RESOLUTION) -> list[ClaimCheck]:
    """One beyond-the-paper claim per map of a model-randomisation summary
    (:func:`xaibook.saliency.sanity.summarise`): at the cascade's last step, its maps are unlike the trained
    model's (mean Spearman of |map| below ``threshold``). Keys ``depends_on_model_<map>``."""
    layer = summary["randomised down to"].iloc[-1]
    last = summary[summary["randomised down to"] == layer].set_index("map")
    out = []
    for label, row in last.iterrows():
        rho = float(row["Spearman |map|"])
        out.append(ClaimCheck(f"depends_on_model_{_slug(label)}", f"Beyond the paper: {label} maps change when "
                              f"{model} is randomised down to {layer} (mean Spearman of |map| below {threshold:g})",
                              rho < threshold, threshold - rho, f"Spearman of |map| {rho:.3f}",
                              "beyond the paper (Adebayo et al. 2018)", resolution=resolution))
    return out


def label_claims(table, model: str = "the classifier", threshold: float = SANITY_THRESHOLD,
                 resolution: float = SANITY_RESOLUTION) -> list[ClaimCheck]:
    """One beyond-the-paper claim per map of a data-randomisation table
    (:func:`xaibook.saliency.sanity.data_randomisation`): the maps of the model trained on shuffled labels
    are unlike the trained model's (mean Spearman of |map| below ``threshold``). Keys ``depends_on_labels_<map>``."""
    out = []
    for label, row in table.iterrows():
        rho = float(row["Spearman |map|"])
        out.append(ClaimCheck(f"depends_on_labels_{_slug(label)}", f"Beyond the paper: {label} maps change when "
                              f"{model} is trained on shuffled labels (mean Spearman of |map| below "
                              f"{threshold:g})", rho < threshold, threshold - rho, f"Spearman of |map| {rho:.3f}",
                              "beyond the paper (Adebayo et al. 2018)", resolution=resolution))
    return out


def load_bands(chapter: str) -> dict[str, Any]:
    """The committed bands of ``chapter`` (empty when none were derived yet)."""
    ref = resources.files("xaibook") / "bands" / f"{chapter}.json"
    if not ref.is_file():
        return {"numbers": {}, "claims": {}}
    return json.loads(ref.read_text())


def _git_commit() -> str:
    root = paths.project_root()
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return sha + ("-dirty" if dirty else "")


def _versions() -> dict[str, str]:
    import numpy
    import torch
    import torchvision

    from .. import __version__

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__, "xaibook": __version__}


def describe_device(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(torch.device(device))} (CUDA {torch.version.cuda})"
    return f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def spread_of(entry: dict[str, Any]) -> Spread | None:
    """Our spread over the derivation runs from a bands entry (also reads the older 5-seed files)."""
    if "mean" in entry:
        return Spread(entry["mean"], entry["min"], entry["max"], entry["n"])
    vals = entry.get("observed")
    if not vals:
        return None
    return Spread(sum(vals) / len(vals), min(vals), max(vals), len(vals))


class Scorecard:
    """Collects a chapter's numbers and claims and writes ``results/<chapter>.json``.

    Bands, our spread and ``must_hold`` come from the committed bands file, so a notebook never
    states its own pass criteria. Bands apply to the fast profile on its own data (the chapter's
``fast_data``: a synthetic stand-in, or real data shipped offline); the spread
    is shown for any run of the fast profile.
    """

    def __init__(self, chapter: str, *, profile: str, data: str, seed: int, device: str = "cpu",
                 results_dir: str | Path | None = None, smoke: bool = False, data_seed: int = 0) -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
        if data not in DATA_KINDS:
            raise ValueError(f"data must be one of {DATA_KINDS}, got {data!r}")
        self.chapter, self.profile, self.data, self.seed, self.device = chapter, profile, data, seed, device
        self.data_seed = data_seed     # the stand-in's draw and the data split (the fast profile's bands: 0)
        self.smoke = smoke             # a smoke run checks a code path: it writes no results file
        self.results_dir = Path(results_dir) if results_dir else paths.results_dir()
        self.numbers: dict[str, Number] = {}
        self.claims: dict[str, Claim] = {}
        self.glued: dict[str, Any] = {}    # the values the chapter's prose glues (xaibook.book.notebook.glue)
        from .chapters import CHAPTERS

        banded = (not smoke and profile == "fast" and data_seed == 0
                  and data == (CHAPTERS.get(chapter).fast_data if chapter in CHAPTERS else "synthetic"))
        self._bands = load_bands(chapter) if banded else {"numbers": {}, "claims": {}}
        self._t0 = time.perf_counter()

    def number(self, key: str, label: str, ours: float, *, paper: float | None = None, unit: str = "",
               tolerance: float | None = None, source: str = "", gate: bool = True, why: str = "") -> float:
        """Record a reproduced number; returns ``ours`` so it can be used inline.

        ``gate=False``, with the reason in ``why``, for numbers that are never to be gated (speed,
        which depends on the machine; cells summarised by a gated number): they show our spread
        but get no band. Whether a gated number gets a band is decided by ``make bands``
        (:func:`derive_bands`). Units ``%``, ``fraction`` and ``count`` have natural ranges.
        """
        if not gate and not why:
            raise ValueError(f"number {key!r} of chapter {self.chapter}: say why it is not gated (why=...)")
        if key in self.numbers:
            raise KeyError(f"number {key!r} recorded twice in chapter {self.chapter}")
        ours = float(ours)
        if not math.isfinite(ours):
            raise ValueError(f"number {key!r} of chapter {self.chapter} is not finite: {ours}")
        entry = self._bands["numbers"].get(key, {})
        self.numbers[key] = Number(key, label, None if paper is None else float(paper), ours, unit,
                                   tolerance, entry.get("band") if gate else None, source, gate, spread_of(entry),
                                   entry.get("reason", "") if gate else why)
        return ours

    def claim(self, key: str, statement: str, holds: bool, *, evidence: str = "", source: str = "",
              gate: bool = True, margin: float | None = None, why: str = "", resolution: float | None = None) -> bool:
        """Record a qualitative claim of the paper as a check on this run (``gate=False``: never required).

        ``margin`` is how far the claim's own quantity is from its threshold, positive when it
        holds (e.g. ``a - b`` for "a beats b"): with it, ``make bands`` can bound the chance that
        the claim fails on a new machine and require it; without it a claim is shown, never required.
        ``resolution`` (in the margin's unit) is the smallest margin the claim's sentence cares about:
        a margin interval inside ±resolution is "no effect at this resolution" (:data:`CLAIM_VERDICTS`).
        """
        if key in self.claims:
            raise KeyError(f"claim {key!r} recorded twice in chapter {self.chapter}")
        if not gate and not why:
            raise ValueError(f"claim {key!r} of chapter {self.chapter}: say why it is never required (why=...)")
        holds = bool(holds)
        if margin is not None:
            margin = float(margin)
            if not math.isfinite(margin):
                raise ValueError(f"claim {key!r} of chapter {self.chapter}: margin is not finite ({margin})")
            if (margin > 0 and not holds) or (margin < 0 and holds):
                raise ValueError(f"claim {key!r} of chapter {self.chapter}: margin {margin:.4g} contradicts "
                                 f"holds={holds} (a positive margin means the claim holds)")
        if resolution is not None and not (math.isfinite(resolution) and resolution >= 0):
            raise ValueError(f"claim {key!r} of chapter {self.chapter}: resolution must be >= 0 (got {resolution})")
        entry = self._bands["claims"].get(key, {})
        self.claims[key] = Claim(key, statement, holds, list(entry.get("must_hold", [])) if gate else [], evidence,
                                 source, gate, margin, entry.get("held", ""), entry.get("reason", "") if gate else why,
                                 resolution, entry.get("verdict", "") if gate else "not gated",
                                 entry.get("interval"), list(entry.get("must_fail", [])) if gate else [])
        return holds

    def record(self, checks: list[ClaimCheck]) -> dict[str, bool]:
        """Register claim checks computed by a chapter module; returns whether each holds, by key."""
        return {c.key: self.claim(c.key, c.statement, c.holds, evidence=c.evidence, source=c.source, gate=c.gate,
                                  margin=c.margin, why=c.why, resolution=c.resolution) for c in checks}

    def failures(self) -> list[str]:
        """Numbers outside their band and must-hold claims that do not hold, as messages; recorded in the
        results file, where ``make test`` and ``make mutants`` read them."""
        out = [f"{n.key} = {n.ours:.4g} outside band {n.band}" for n in self.numbers.values() if n.in_band is False]
        out += [f"claim {c.key} does not hold: {c.statement}" for c in self.claims.values()
                if self.profile in c.must_hold and not c.holds]
        out += [f"claim {c.key} holds, but failed decisively over the derivation runs: {c.statement}"
                for c in self.claims.values() if self.profile in c.must_fail and c.holds]
        banded = {k for k, e in self._bands["numbers"].items() if e.get("band") is not None}
        out += [f"number {k} has a band but was not recorded" for k in sorted(banded - set(self.numbers))]
        return out

    def to_dict(self) -> dict[str, Any]:
        from ..kernels import describe_cpu

        return {
            "chapter": self.chapter,
            "profile": self.profile,
            "data": self.data,
            "provenance": {"seed": self.seed, "data_seed": self.data_seed, "commit": _git_commit(), "versions": _versions(),
                           "device": describe_device(self.device), **describe_cpu(),
                           "wall_time_s": round(time.perf_counter() - self._t0, 2)},
            "bands": {k: self._bands.get(k) for k in ("runs_summary", "rule", "kernel_effect")
                      if self._bands.get(k) is not None},
            "numbers": [n.to_dict() for n in self.numbers.values()],
            "claims": [c.to_dict() for c in self.claims.values()],
            "failures": self.failures(),
            "glue": dict(self.glued),
        }

    def write(self) -> Path | None:
        """Write ``results/<chapter>.json`` atomically; a smoke run writes nothing and returns None."""
        if self.smoke:
            return None
        return atomic_write_json(self.results_dir / f"{self.chapter}.json", self.to_dict())

    def spread_note(self) -> str:
        """One paragraph for the chapter's scorecard: where our spread comes from and what CPU kernels do."""
        summary, effect = self._bands.get("runs_summary"), self._bands.get("kernel_effect")
        if not summary or not effect:
            return ("No spread to show: bands and our spread are derived for the fast profile on its own data "
                    "(`make bands`); this run is compared with the paper on its own.")
        return (f"*Ours over seeds x kernels* is our mean [min, max] over {summary['n']} fast-profile runs: seeds "
                f"{summary['seeds'][0]}-{summary['seeds'][-1]}, each on the CPU kernel paths "
                f"{', '.join(summary['kernels'])}. {effect['sentence']} {summary['gated_numbers']} numbers and "
                f"{summary['gated_claims']} claims are gated; the verdict compares the paper with our spread "
                f"(reproduced: our mean within the tolerance; mixed: only some runs; differs: no run).")

    def numbers_frame(self, keys: list[str] | None = None):
        """The paper | ours | delta | our spread | band | verdict table for display in the chapter."""
        import pandas as pd

        rows = [self.numbers[k] for k in (keys or list(self.numbers))]
        return pd.DataFrame({
            "quantity": [n.label for n in rows],
            "paper": [n.paper for n in rows],
            "ours (this run)": [n.ours for n in rows],
            "delta": [n.delta for n in rows],
            "ours over seeds x kernels: mean [min, max]": [n.spread.text(n.unit) if n.spread else "–" for n in rows],
            "band (gated)": ["–" if n.band is None else f"[{n.band[0]:.3g}, {n.band[1]:.3g}]" for n in rows],
            "verdict": [n.verdict for n in rows],
        }).set_index("quantity")

    def claims_frame(self):
        import pandas as pd

        cs = list(self.claims.values())
        return pd.DataFrame({
            "claim": [c.statement for c in cs],
            "this run": ["holds" if c.holds else "fails" for c in cs],
            "verdict over seeds x kernels": [c.verdict or "–" for c in cs],
            "margin: interval (held)": [margin_text(c.interval, c.held) for c in cs],
            "gated": ["yes" if (c.must_hold or c.must_fail) else "no" for c in cs],
            "evidence": [c.evidence for c in cs],
        }).set_index("claim")


def margin_text(interval: list[float] | None, held: str = "") -> str:
    """A claim's margin interval over the derivation runs, e.g. "[0.012, 0.054] (20/20)"."""
    if not interval:
        return f"– ({held})" if held else "–"
    return f"[{interval[0]:.3g}, {interval[1]:.3g}]" + (f" ({held})" if held else "")


# ---------------------------------------------------------------------------------------------
# Bands: a prediction interval for one new run, on any machine
# ---------------------------------------------------------------------------------------------

def _t_quantile(p: float, df: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(p, df))


def _informative(lo: float, hi: float, mean: float, unit: str) -> tuple[bool, str]:
    """Whether a band says something: see :func:`derive_bands` for the rule."""
    width = hi - lo
    if unit in ("%", "fraction"):
        full = LIMITS[unit][1] - LIMITS[unit][0]
        return width <= 0.5 * full, f"band spans {100 * width / full:.0f}% of the natural range (at most 50% is gated)"
    if unit == "pp":
        return lo > 0 or hi < 0, "band " + ("excludes" if (lo > 0 or hi < 0) else "includes") + " zero (a signed " \
            "difference is gated only when its sign is certain)"
    rel = width / abs(mean) if mean else math.inf
    return rel <= 1.0, f"band is {rel:.2f} x the mean wide (at most 1 x is gated)"


def machine_floor(unit: str, mean: float) -> float:
    """:data:`MACHINE_FLOOR` for ``unit``; 1% of ``|mean|`` for a unit it does not list."""
    return MACHINE_FLOOR.get(unit, 0.01 * abs(mean))


def _band(vals: list[float], unit: str, k: float, floor: float | None = None) -> tuple[float, float]:
    """The prediction interval, widened to every run and to ``floor`` beyond them (default:
    :func:`machine_floor`), clipped to the natural range."""
    mean, sd = _mean_sd(vals)
    half = k * sd * math.sqrt(1 + 1 / len(vals))
    floor = machine_floor(unit, mean) if floor is None else floor
    lo, hi = min(mean - half, min(vals) - floor), max(mean + half, max(vals) + floor)   # every run inside
    if unit in LIMITS:      # a share or a count cannot leave its natural range
        lo, hi = max(lo, LIMITS[unit][0]), min(hi, LIMITS[unit][1])
    return lo, hi


def summarise_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What :func:`gate_bands` needs from the runs of one chapter over seeds x kernel paths.

    Each run is ``{"seed", "kernel", "provenance": {...}, "numbers": {key: {"ours", "unit", "label",
    "gated", "gate_reason"}}, "claims": {key: {"holds", "margin", "gated", "gate_reason"}}}``. The
    summary keeps every number's value per run and every claim's outcome and margin per run; a
    bands file is this summary plus the gating, so it can be gated again (:func:`rederive_bands`).
    """
    if len(runs) < 2:
        raise ValueError("bands need at least two runs")
    numbers = {}
    for key, first in runs[0]["numbers"].items():
        numbers[key] = {"label": first.get("label", key), "unit": first.get("unit", ""),
                        "chapter_gated": bool(first.get("gated", True)), "chapter_reason": first.get("gate_reason", ""),
                        "values": [r["numbers"][key]["ours"] if key in r["numbers"] else None for r in runs]}
    claims = {}
    for key, first in runs[0]["claims"].items():
        claims[key] = {"chapter_gated": bool(first.get("gated", True)), "chapter_reason": first.get("gate_reason", ""),
                       "resolution": first.get("resolution"),
                       "holds": [bool(r["claims"][key]["holds"]) if key in r["claims"] else None for r in runs],
                       "margins": [r["claims"][key].get("margin") if key in r["claims"] else None for r in runs]}
    return {"profile": "fast", "runs": [{"seed": r["seed"], "kernel": r["kernel"], **r.get("provenance", {})}
                                        for r in runs],
            "numbers": numbers, "claims": claims}


def _mean_sd(vals: list[float]) -> tuple[float, float]:
    mean = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return mean, sd


def gate_bands(summary: dict[str, Any], *, suite_alpha: float = SUITE_ALPHA,
               suite_chapters: int = SUITE_CHAPTERS) -> dict[str, Any]:
    r"""Bands and must-hold claims from a :func:`summarise_runs` summary (runs over seeds x kernel paths).

    **Coverage.** A correct build may fail anywhere in the suite with probability at most
    ``suite_alpha`` (1%), split equally over ``suite_chapters`` chapters and, within a chapter,
    over at most G gated quantities (Bonferroni): :math:`\alpha = 0.01 / (5 G)` each.

    **Number band.** A normal prediction interval for one new run,
    :math:`\bar x \pm t_{1-\alpha/2,\,s-1}\; \mathrm{sd}\, \sqrt{1 + 1/n}` with n runs and s seeds
    (the degrees of freedom count seeds, not runs, because two kernel paths of one seed are not
    independent draws); widened to contain every derivation run and clipped to the natural range
    (percentages, fractions, counts >= 0).

    Every band reaches at least :func:`machine_floor` beyond the runs, an allowance for machines the
    derivation did not run on. A number that did not move across the runs (a convex fit, a count
    fixed by the data) is gated too, at that floor: it is checked to the tolerance, not dropped.

    **Gated numbers** are those the chapter offers for gating, recorded in every run, and whose
    band is informative: at most half the natural
    range for percentages and fractions, a certain sign for signed differences (``pp``), at most
    the mean's magnitude wide otherwise. G and the bands are found together: G is the smallest
    count at which at most G quantities (informative numbers and decided claims) qualify at
    :math:`\alpha = 0.01 / (5 G)`, and every candidate is judged at that one alpha. (Until
    2026-12-04 the quantities dropped on the way to G kept the verdict of the larger G they were
    dropped at, so a claim could be called undecided whose interval at the stated alpha lay above
    zero.)

    **Claims.** A claim's margin (its quantity minus its threshold) gets the interval of the same
    form with the one-sided t on each side, reaching at least half the claim's resolution beyond
    the runs; it holds when the interval lies above zero, fails when below, shows no effect when it
    lies within ± the resolution, and is undecided otherwise (:func:`claim_verdict`). Holds and
    fails are gated both ways. A claim without a margin in every run is shown, never required.
    """
    runs = summary["runs"]
    n = len(runs)
    seeds = sorted({r["seed"] for r in runs})
    df = max(len(seeds) - 1, 1)
    alpha_chapter = suite_alpha / suite_chapters

    numbers: dict[str, Any] = {}
    candidates = []
    for key, e in summary["numbers"].items():
        vals = [v for v in e["values"] if v is not None]
        mean, sd = _mean_sd(vals)
        numbers[key] = {k: e[k] for k in ("label", "unit", "chapter_gated", "chapter_reason", "values")}
        numbers[key].update(band=None, mean=mean, sd=sd, min=min(vals), max=max(vals), n=len(vals))
        if not e["chapter_gated"]:
            numbers[key]["reason"] = e["chapter_reason"] or "not gated by the chapter"
        elif len(vals) < n:    # e.g. the energy of incorrect predictions when a run had none
            numbers[key]["reason"] = f"recorded in {len(vals)} of {n} runs only"
        else:
            candidates.append(key)

    claims: dict[str, Any] = {}
    claim_candidates = []
    for key, c in summary["claims"].items():
        claims[key] = {k: c[k] for k in ("chapter_gated", "chapter_reason", "holds", "margins")}
        claims[key].update(resolution=c.get("resolution"), must_hold=[], must_fail=[], verdict="undecided",
                           interval=None)
        if c["holds"] is None:      # a derivation that kept only the count of runs in which the claim held
            claims[key].update(held=c["held"], reason="per-run outcomes and margins were not recorded "
                               "by this derivation: re-derive (make bands) to gate the claim")
            continue
        holds = [h for h in c["holds"] if h is not None]
        margins = [m for m in c["margins"] if m is not None]
        claims[key]["held"] = f"{sum(holds)}/{n}"
        if not c["chapter_gated"]:
            claims[key].update(verdict="not gated", reason=c["chapter_reason"] or "never required by the chapter")
        elif len(holds) < n:
            claims[key]["reason"] = f"recorded in {len(holds)} of {n} runs only"
        elif len(margins) < n:
            claims[key]["reason"] = f"held in {sum(holds)} of {n} runs, without a margin to form an interval from"
        else:
            claims[key]["margin_mean"], claims[key]["margin_sd"] = _mean_sd(margins)
            claim_candidates.append(key)

    def gate_at(g: int) -> tuple[list[str], list[str], float, float, float]:
        """Every candidate's band and verdict at a = alpha_chapter / g; the informative numbers and the
        decided claims."""
        alpha = alpha_chapter / g
        k2, k1 = _t_quantile(1 - alpha / 2, df), _t_quantile(1 - alpha, df)
        keep_nums, keep_claims = [], []
        for key in candidates:
            e = numbers[key]
            lo, hi = _band(e["values"], e["unit"], k2)
            ok, why = _informative(lo, hi, e["mean"], e["unit"])
            e.update(band=[round(lo, 6), round(hi, 6)] if ok else None, reason=why)
            if ok:
                keep_nums.append(key)
        for key in claim_candidates:
            c = claims[key]
            # one-sided on each side: a claim that holds fails the build only if a new margin falls below zero
            # (and one that fails, only if it rises above), so each verdict needs its own bound at a
            lo, hi = _band(c["margins"], "", k1, floor=(c["resolution"] or 0.0) / 2)
            c["interval"] = [round(lo, 6), round(hi, 6)]
            c["verdict"] = claim_verdict(lo, hi, c["resolution"])
            c["must_hold"] = ["fast"] if c["verdict"] == "holds" else []
            c["must_fail"] = ["fast"] if c["verdict"] == "fails" else []
            c["reason"] = (f"held in {c['held']} runs; margin {c['margin_mean']:.3g} ± {c['margin_sd']:.3g}, prediction "
                           f"interval [{lo:.3g}, {hi:.3g}]: {c['verdict']}"
                           + (" (gated both ways)" if c["verdict"] in ("holds", "fails") else ""))
            if c["verdict"] in ("holds", "fails"):
                keep_claims.append(key)
        return keep_nums, keep_claims, alpha, k2, k1

    # G, the Bonferroni count: the smallest G at which at most G quantities are informative or decided. A
    # larger G widens every interval, so fewer quantities qualify; at the smallest such G the gated ones (at
    # most G, each missed with probability a) keep the chapter's share of the suite's false-alarm rate, and
    # every candidate, gated or not, is judged at that one a (what the rule says). The count of candidates
    # always qualifies, so the scan ends.
    for g in range(1, max(len(candidates) + len(claim_candidates), 1) + 1):
        gated_nums, gated_claims, alpha, k2, k1 = gate_at(g)
        if len(gated_nums) + len(gated_claims) <= g:
            break

    return {
        "profile": "fast",
        "rule": (f"band = mean ± t(1 - a/2, seeds - 1) x sd x sqrt(1 + 1/n), widened to every run and "
                 f"to a machine floor beyond them (1 point of a percentage, 0.01 of a fraction, 1 of a count, 1% of the mean "
                 f"otherwise), clipped to the natural range; a = {suite_alpha} / ({suite_chapters} chapters x G = {g}) = "
                 f"{alpha:.2e}, G the smallest count at which at most G quantities are informative or decided "
                 f"({len(gated_nums) + len(gated_claims)} here); gated when the band is informative; a claim's margin gets the interval with the one-sided "
                 f"t(1 - a, seeds - 1) on each side, at least half its resolution beyond the runs: holds above zero, fails below it, no effect inside its "
                 f"resolution, undecided otherwise; holds and fails are gated both ways"),
        "alpha_per_quantity": alpha, "t_two_sided": k2, "t_one_sided": k1,
        "runs_summary": {"n": n, "seeds": seeds, "kernels": sorted({r["kernel"] for r in runs}),
                         "gated_numbers": len(gated_nums), "gated_claims": len(gated_claims)},
        "kernel_effect": kernel_effect(runs, numbers),
        **{k: summary[k] for k in ("derivation_wall_time_s",) if k in summary},
        "runs": runs,
        "numbers": numbers,
        "claims": claims,
    }


def claim_verdict(lo: float, hi: float, resolution: float | None) -> str:
    """The verdict of a claim whose margin's prediction interval is [lo, hi] (:data:`CLAIM_VERDICTS`)."""
    if lo > 0:
        return "holds"
    if hi < 0:
        return "fails"
    res = resolution or 0.0
    return "no effect" if -res <= lo and hi <= res else "undecided"


def derive_bands(runs: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    """Bands and must-hold claims from runs of one chapter: :func:`gate_bands` of :func:`summarise_runs`."""
    return gate_bands(summarise_runs(runs), **options)


def rederive_bands(bands: dict[str, Any], **options: Any) -> dict[str, Any]:
    """Gate a committed bands file again from the runs it records (after a change of the rule, not of the
    chapter). What the file says beyond the gating (e.g. ``single_path_reason``, ``kernel_coverage``) is kept."""
    derived = gate_bands(bands, **options)
    return {**derived, **{k: v for k, v in bands.items() if k not in derived}}


def kernel_effect(runs: list[dict[str, Any]], numbers: dict[str, Any]) -> dict[str, Any]:
    """How much the kernel path alone moves each number: mean |difference| between two paths of one seed.

    ``runs`` are the runs' records (seed, kernel) in the order of each number's ``values``.
    Reported relative to the spread between runs (sd over all runs): 0 means kernels do not
    matter, about 1.1 means a kernel change is as good as a new seed.
    """
    by_seed: dict[int, list[int]] = {}
    for i, r in enumerate(runs):
        by_seed.setdefault(r["seed"], []).append(i)
    pairs = [idx[:2] for idx in by_seed.values() if len(idx) >= 2]
    per_number = {}
    for key, e in numbers.items():
        vals = e["values"]
        diffs = [abs(vals[a] - vals[b]) for a, b in pairs if vals[a] is not None and vals[b] is not None]
        if diffs:
            d = sum(diffs) / len(diffs)
            per_number[key] = {"mean_abs_change": d, "relative_to_sd": d / e["sd"] if e["sd"] else 0.0,
                               "changed_seeds": sum(x > 0 for x in diffs), "seeds": len(diffs)}
    changed = [k for k, v in per_number.items() if v["changed_seeds"]]
    rel = sorted(v["relative_to_sd"] for k, v in per_number.items() if k in changed)
    median = rel[len(rel) // 2] if rel else 0.0
    if not pairs:
        sentence = ("No seed ran on two kernel paths, so the kernel path's own effect was not measured; the spread "
                    "between seeds covers it where a change of kernels acts like a new seed.")
    elif changed:
        sentence = (f"CPU kernels change this chapter's numbers: the same seed on two kernel paths gives a different "
                    f"value for {len(changed)} of {len(per_number)} numbers, by {median:.1f} times the spread between "
                    f"runs (median over those numbers).")
    else:
        sentence = "The same seed gives the same numbers on both kernel paths."
    return {"per_number": per_number, "sentence": sentence, "pairs": len(pairs)}


def merge_bands(parts: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    """One chapter's derivations over disjoint seeds (e.g. seeds 0-9, then 10-19) gated as one: their runs,
    every number's values and every claim's outcomes and margins joined in order, then :func:`gate_bands`;
    the wall time is the sum. Refuses derivations that share a (seed, kernel) run or record different
    quantities."""
    seen = [(r["seed"], r["kernel"]) for p in parts for r in p["runs"]]
    if len(set(seen)) < len(seen):
        raise ValueError(f"the derivations share runs: {sorted({x for x in seen if seen.count(x) > 1})}")
    for section in ("numbers", "claims"):
        keys = [set(p[section]) for p in parts]
        if any(k != keys[0] for k in keys):
            raise ValueError(f"the derivations record different {section}: {sorted(set.union(*keys) - set.intersection(*keys))}")
    first = parts[0]
    numbers = {key: {**{k: e[k] for k in ("label", "unit", "chapter_gated", "chapter_reason")},
                     "values": [v for p in parts for v in p["numbers"][key]["values"]]}
               for key, e in first["numbers"].items()}
    claims = {}
    for key, c in first["claims"].items():
        claims[key] = {k: c.get(k) for k in ("chapter_gated", "chapter_reason", "resolution")}
        for field in ("holds", "margins"):
            vals = [p["claims"][key].get(field) for p in parts]
            claims[key][field] = None if any(v is None for v in vals) else [x for v in vals for x in v]
        if claims[key]["holds"] is None:
            claims[key]["held"] = first["claims"][key].get("held")
    summary = {"runs": [r for p in parts for r in p["runs"]], "numbers": numbers, "claims": claims}
    if all("derivation_wall_time_s" in p for p in parts):
        summary["derivation_wall_time_s"] = round(sum(p["derivation_wall_time_s"] for p in parts), 1)
    return gate_bands(summary, **options)


def claims_held(card: Scorecard, at_least: float) -> list[str]:
    """Statements of the card's claims that held in at least ``at_least`` of the runs behind its bands
    (the "held over seeds x kernels" column, e.g. "19/20"); none when the chapter has no bands."""
    out = []
    for c in card.claims.values():
        if c.held and "/" in c.held:
            k, n = (int(v) for v in c.held.split("/"))
            if n and k / n >= at_least:
                out.append(c.statement)
    return out


def verdict_summary(card: Scorecard) -> str:
    """The card's claims grouped by their verdict over the derivation runs (:data:`CLAIM_VERDICTS`), as
    markdown: "**holds**: `a`, `b`; **fails**: `c`"; claims without a verdict (no bands: a paper-profile
    run) are grouped by this run's outcome instead, and say so."""
    groups: dict[str, list[str]] = {}
    for c in card.claims.values():
        v = c.verdict or ("held in this run" if c.holds else "did not hold in this run")
        groups.setdefault(v, []).append(f"`{c.key}`")
    order = [*CLAIM_VERDICTS, "held in this run", "did not hold in this run"]
    return "; ".join(f"**{v}**: {', '.join(groups[v])}" for v in order if v in groups) or "no claims recorded"
