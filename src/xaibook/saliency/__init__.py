"""Saliency methods. Each works on (N, C, H, W) images and (N, C, T, H, W) videos."""
from ._core import cam_from_weights, gradcam_weights, gradcampp_weights, minmax, upsample
from .cam import METHODS, BaseCAM, GradCAM, GradCAMpp
from .gradients import BaseGradient, DeepLift, VanillaGrad, gaussian_blur
from .lime import Lime
from .normalise import NORMALISATIONS, normalise
from .occlusion import Occlusion
from .scorecam import ScoreCAM
from .smooth import SmoothGrad
from .targets import Target, class_score, predicted_class

__all__ = ["METHODS", "BaseCAM", "GradCAM", "GradCAMpp", "Target", "class_score", "predicted_class",
           "cam_from_weights", "gradcam_weights", "gradcampp_weights", "minmax", "upsample",
           "BaseGradient", "VanillaGrad", "DeepLift", "gaussian_blur", "ScoreCAM", "SmoothGrad", "Occlusion", "Lime",
           "NORMALISATIONS", "normalise"]
