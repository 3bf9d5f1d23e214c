"""The metric registry (STYLE 3): every saliency metric with its paper, direction and inputs.

``kind`` says what a metric takes: ``"map-mask"`` metrics score (N, *S) maps against (N, *S)
masks; ``"confidence"`` metrics compare (N,) target-class probabilities before and after
masking the image with its map. All return one value per sample. The tests are parametrised
over the registry (invariances, bad input), so a new metric is tested without anyone
remembering to add it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..registry import Registry
from .explanation import average_drop, increase_in_confidence
from .localisation import energy_inside
from .pointing import distance_pointing_game, energy_pointing_game

KINDS = ("map-mask", "confidence")


@dataclass(frozen=True)
class Metric:
    name: str
    paper: str
    higher_is_better: bool
    kind: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    aggregate: str = "mean"           # "mean" or "nanmedian" (pointing games leave empty masks as NaN)

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.fn(a, b)


METRICS: Registry[Metric] = Registry("metric")


def _add(key: str, metric: Metric) -> None:
    if metric.kind not in KINDS:
        raise ValueError(f"metric {key}: kind must be one of {KINDS}")
    METRICS.add(key, metric)


_add("energy_pointing_game", Metric("Energy pointing game", "Wang et al. 2020 (Score-CAM), Sect. 5.2", True,
                                    "map-mask", energy_pointing_game, "nanmedian"))
_add("distance_pointing_game", Metric("Distance pointing game", "Lorentz et al. 2021, Sect. 4.1", True,
                                      "map-mask", distance_pointing_game, "nanmedian"))
_add("energy_inside", Metric("Energy inside a region", "Wang et al. 2020 (an empty region scores 0)", True,
                             "map-mask", energy_inside))
_add("average_drop", Metric("Average Drop %", "Chattopadhay et al. 2018, Sect. 5.1", False, "confidence",
                            average_drop))
_add("increase_in_confidence", Metric("% Increase in Confidence", "Chattopadhay et al. 2018, Sect. 5.1", True,
                                      "confidence", increase_in_confidence))
