"""xaibook: the package behind the companion book on saliency maps for image and video classifiers.

Layers, bottom up: ``_utils`` (I/O, seeding, hooks) -> ``saliency``, ``metrics``, ``training``,
``models`` -> one sub-package per chapter (``foam``) -> ``claims``, ``build`` (the book).
"""
__version__ = "0.1.0"

import warnings

# tqdm.auto (imported by captum and lime) warns in every notebook without ipywidgets; nothing is
# lost without its widget progress bars, and the warning would print a machine path on the page.
warnings.filterwarnings("ignore", message="IProgress not found")

from . import paths
from ._utils.seed import seed_everything
from .claims import Scorecard
from .models import MODELS, build as build_model
from .saliency import METHODS

__all__ = ["MODELS", "METHODS", "Scorecard", "build_model", "paths", "seed_everything", "__version__"]
