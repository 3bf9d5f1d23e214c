"""Helpers that every chapter notebook uses to show and glue its results."""
from __future__ import annotations

from typing import Any

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
