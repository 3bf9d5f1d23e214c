"""Metrics: classification quality and localisation of saliency."""
from .classification import AVERAGES, PRF, confusion, prf_from_confusion, row_normalise
from .localisation import energy_inside

__all__ = ["AVERAGES", "PRF", "confusion", "prf_from_confusion", "row_normalise", "energy_inside"]
