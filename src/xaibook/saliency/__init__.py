"""Saliency methods. Each works on (N, C, H, W) images and (N, C, T, H, W) videos."""
from ._core import (GRADCAMPP_VARIANTS, cam_from_weights, gradcam_weights, gradcampp_weights, minmax,
                    smooth_gradcampp_weights, upsample)
from .cam import BaseCAM, GradCAM, GradCAMpp, SmoothGradCAMpp
from .gradients import BaseGradient, DeepLift, VanillaGrad, gaussian_blur
from .lime import Lime
from .normalise import NORMALISATIONS, normalise
from .occlusion import Occlusion
from .scorecam import ScoreCAM
from .registry import CONTRACTS, METHODS, build_method
from .smooth import SmoothGrad
from .targets import Target, class_score, class_selection, frozen, predicted_class, target_scores

__all__ = ["CONTRACTS", "GRADCAMPP_VARIANTS", "METHODS", "BaseCAM", "GradCAM", "GradCAMpp", "SmoothGradCAMpp",
           "Target", "build_method", "class_score", "class_selection", "frozen", "predicted_class", "target_scores",
           "cam_from_weights", "gradcam_weights", "gradcampp_weights", "smooth_gradcampp_weights", "minmax", "upsample",
           "BaseGradient", "VanillaGrad", "DeepLift", "gaussian_blur", "ScoreCAM", "SmoothGrad", "Occlusion", "Lime",
           "NORMALISATIONS", "normalise"]
