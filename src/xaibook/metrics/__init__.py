"""Metrics: classification quality and localisation of saliency."""
from .classification import AVERAGES, PRF, confusion, prf_from_confusion, row_normalise
from .explanation import average_drop, increase_in_confidence, masked_confidence
from .localisation import energy_inside
from .pointing import (PointingGameParts, constructed_example, distance_mask, distance_pointing_game,
                       energy_pointing_game, pointing_game_parts)
from .registry import METRICS, Metric

__all__ = ["METRICS", "Metric", "average_drop", "increase_in_confidence", "masked_confidence", "AVERAGES", "PRF", "confusion", "prf_from_confusion", "row_normalise", "energy_inside",
           "PointingGameParts", "constructed_example", "distance_mask", "distance_pointing_game",
           "energy_pointing_game", "pointing_game_parts"]
