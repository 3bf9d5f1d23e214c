"""Saliency methods. Each works on (N, C, H, W) images and (N, C, T, H, W) videos."""
from ._core import (GRADCAMPP_SOURCES, GRADCAMPP_VARIANTS, Conditioning, cam_from_weights, gradcam_weights,
                    gradcampp_conditioning, gradcampp_weights, minmax, smooth_gradcampp_weights, upsample)
from .cam import BaseCAM, GradCAM, GradCAMpp, SmoothGradCAMpp
from .chunked import PASS_SIZES, Chunked, PassSize, attribute_in_chunks, images_per_chunk, pass_size
from .gradients import BaseGradient, DeepLift, VanillaGrad, gaussian_blur
from .lime import Lime
from .memory import PeakEstimate, estimate_peak, pass_meter
from .normalise import NORMALISATIONS, normalise
from .occlusion import Occlusion
from .scorecam import ScoreCAM
from .registry import CONTRACTS, METHODS, build_method, describe
from .smooth import SmoothGrad
from .targets import Target, class_score, class_selection, frozen, predicted_class, target_scores

__all__ = ["CONTRACTS", "METHODS", "build_method", "describe",
           # the CAMs and their math
           "BaseCAM", "GradCAM", "GradCAMpp", "SmoothGradCAMpp", "GRADCAMPP_SOURCES", "GRADCAMPP_VARIANTS",
           "Conditioning", "cam_from_weights", "gradcam_weights", "gradcampp_conditioning", "gradcampp_weights",
           "smooth_gradcampp_weights", "minmax", "upsample",
           # the other methods and wrappers
           "BaseGradient", "VanillaGrad", "DeepLift", "gaussian_blur", "ScoreCAM", "SmoothGrad", "Occlusion", "Lime",
           "NORMALISATIONS", "normalise",
           # targets
           "Target", "class_score", "class_selection", "frozen", "predicted_class", "target_scores",
           # bounded memory
           "Chunked", "PASS_SIZES", "PassSize", "attribute_in_chunks", "images_per_chunk", "pass_size",
           "PeakEstimate", "estimate_peak", "pass_meter"]
