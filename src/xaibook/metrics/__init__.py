"""Metrics: classification quality and localisation of saliency."""
from .classification import AVERAGES, PRF, confusion, prf_from_confusion, row_normalise
from .localisation import energy_inside
from .pointing import (PointingGameParts, constructed_example, distance_mask, distance_pointing_game,
                       energy_pointing_game, pointing_game_parts)

__all__ = ["AVERAGES", "PRF", "confusion", "prf_from_confusion", "row_normalise", "energy_inside",
           "PointingGameParts", "constructed_example", "distance_mask", "distance_pointing_game",
           "energy_pointing_game", "pointing_game_parts"]
