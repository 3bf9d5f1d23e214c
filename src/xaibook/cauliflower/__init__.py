"""Chapter 02_cauliflower: GrowliFlower (its Hugging Face mirror) and a stand-in in the same layout."""
from .dataset import (CLASSES, PAPER_DATES, PAPER_FIELD, PAPER_SPLIT_SIZES, READY_WINDOW_DAYS, CauliflowerDataError,
                      label_readiness, labels, load_growliflower, load_images, split_by_plant)
from .standin import MECHANISMS, PATCH_CM, StandinSpec, ensure_standin, render_patch, simulate_plants, write_standin

__all__ = ["CLASSES", "MECHANISMS", "PAPER_DATES", "PAPER_FIELD", "PAPER_SPLIT_SIZES", "PATCH_CM", "READY_WINDOW_DAYS",
           "CauliflowerDataError", "StandinSpec", "ensure_standin", "label_readiness", "labels", "load_growliflower",
           "load_images", "render_patch", "simulate_plants", "split_by_plant", "write_standin"]
