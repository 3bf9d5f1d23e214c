"""xaibook: the package behind the companion book on saliency maps for image and video classifiers.

Floors, bottom up (README, "Layout"; ``tests/test_layout.py`` checks that imports run downward):
the ground (``_utils``, ``registry``, ``kernels``, ``paths``) -> the shared science (``metrics``,
``saliency``, ``models``, ``training``) -> the book's machinery (``book``: build, notebook helpers,
claims and scorecard, audit, plotting) -> one package per chapter (``foam``, ``cauliflower``,
``lung``, ``steel``, ``featurecam``). This module exports the floors' public names only.
"""
__version__ = "0.1.0"

import warnings

# tqdm.auto (imported by captum and lime) warns in every notebook without ipywidgets; nothing is
# lost without its widget progress bars, and the warning would print a machine path on the page.
warnings.filterwarnings("ignore", message="IProgress not found")

from . import paths
from ._utils.seed import seed_everything
from .models import MODELS, build as build_model
from .saliency import METHODS

__all__ = ["MODELS", "METHODS", "build_model", "paths", "seed_everything", "__version__"]
