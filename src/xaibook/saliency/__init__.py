"""Saliency methods. Each works on (N, C, H, W) images and (N, C, T, H, W) videos."""
from ._core import cam_from_weights, gradcam_weights, gradcampp_weights, minmax, upsample
from .cam import METHODS, BaseCAM, GradCAM, GradCAMpp
from .targets import Target, class_score, predicted_class

__all__ = ["METHODS", "BaseCAM", "GradCAM", "GradCAMpp", "Target", "class_score", "predicted_class",
           "cam_from_weights", "gradcam_weights", "gradcampp_weights", "minmax", "upsample"]
