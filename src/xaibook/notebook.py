"""Helpers that every chapter notebook uses to show and glue its results."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from IPython.display import Markdown


def glue(name: str, value: Any) -> Any:
    """Glue a value for the chapter's prose (MyST-NB); strings are glued as Markdown.

    In the text: ``{glue:text}`name:.1f``` for numbers, ``{glue:md}`name``` for strings.
    """
    import numpy as np
    from myst_nb import glue as _glue

    if isinstance(value, np.generic):      # np.float64's repr would reach the page instead of the number
        value = value.item()
    _glue(name, Markdown(value) if isinstance(value, str) else value, display=False)
    return value


def provenance_tag(profile: str, data: str) -> str:
    """The label every figure and table carries: which profile and which data produced it."""
    return f"{profile} profile, {data} data"


@dataclass
class ChapterRun:
    """What every chapter sets up first: its data kind, settings, generator, scorecard and tag."""

    data: str
    cfg: Any
    generator: Any
    card: Any
    tag: str


def start_chapter(chapter: str, *, profile: str, data: str | None, seed: int, device: str,
                  results_dir: str | None, settings: Callable[[str], Any]) -> ChapterRun:
    """Resolve the data kind (synthetic for fast, real for paper), seed everything, open the scorecard.

    Also glues ``tag`` (the provenance label) for the chapter's prose.
    """
    from ._utils.seed import seed_everything
    from .claims import Scorecard

    from .chapters import CHAPTERS

    data = data or (CHAPTERS.get(chapter).fast_data if profile == "fast" and chapter in CHAPTERS else "real")
    cfg = settings(profile)
    generator = seed_everything(seed)
    card = Scorecard(chapter, profile=profile, data=data, seed=seed, device=device, results_dir=results_dir)
    tag = glue("tag", provenance_tag(profile, data))
    return ChapterRun(data, cfg, generator, card, tag)


def show_scorecard(card) -> None:
    """A chapter's closing scorecard: the spread note, the numbers and claims tables; writes the results file
    and prints the numbers out of band and the must-hold claims that failed."""
    from IPython.display import Markdown, display

    display(Markdown(card.spread_note()))
    display(card.numbers_frame())
    display(card.claims_frame())
    print(f"wrote {card.write()}")
    print("out of band or failed must-hold claims:", card.failures() or "none")
