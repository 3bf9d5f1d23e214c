"""Chapter 01_foam: the bioreactor foam stand-in, its loader and the chapter's analyses."""
from .dataset import CLASSES, FoamDataError, box_masks, load_images, load_manifest
from .experiment import (FAST, PAPER, SMOKE, WHY, FoamSettings, Splits, adjacent_error_share, binary_labels, confusion_claims,
                         confusion_sentence, energy_claim, energy_sentence, task_sentence, f1_claim, factor_effects, temporal_claim, temporal_sentence,
                         conditioning_table, gradcampp_channel_conditioning, gradcampp_maps, interface_energy, method_rows, make_splits, moving_average_f1, pick_examples,
                         label_check, rank_margin, ranked_confusions, sanity_check, scores, settings, table2,
                         threshold_error_share, train_config)
from .standin import (TABLE1, THRESHOLDS_MM, StandinSpec, ensure_standin, foam_class, render_frame, simulate_run,
                      write_standin)

__all__ = ["SMOKE", "CLASSES", "FAST", "PAPER", "TABLE1", "THRESHOLDS_MM", "WHY", "FoamDataError", "FoamSettings", "Splits",
           "StandinSpec", "adjacent_error_share", "binary_labels", "confusion_claims", "energy_claim", "f1_claim",
           "temporal_claim", "temporal_sentence", "energy_sentence", "confusion_sentence", "task_sentence", "box_masks", "ensure_standin", "factor_effects",
           "foam_class", "conditioning_table", "gradcampp_channel_conditioning", "gradcampp_maps", "interface_energy", "method_rows", "load_images", "load_manifest", "make_splits",
           "moving_average_f1", "pick_examples", "rank_margin", "ranked_confusions", "render_frame", "scores", "settings",
           "simulate_run", "table2", "threshold_error_share", "write_standin", "label_check", "sanity_check",
           "train_config"]
