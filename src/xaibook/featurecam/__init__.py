"""Chapter 05_feature_cam: Grad-CAM, Grad-CAM++ and Smooth Grad-CAM++ fused with HED edge maps (Feature CAM),
explanation maps, the established metrics beside the paper's, and a survey kit for its Table 1."""
from .experiment import (CAMS, FAST, OURS, PAPER, PAPER_PEER, WHY, ClassifierRun, FeatureCamSettings, class_discrimination,
                         combination_table, deletion_insertion, edge_similarity, edges_text, paper_claims, percentile_sensitivity, road_scores, run_classifier,
                         sanity_check, sanity_claims, sanity_photos, settings, soft_mask_metrics, table2, table3)
from .method import (COMBINATIONS, FUSIONS, INPUTS, TOP5, Combination, explanation_mask, explanation_maps,
                     feature_inputs, fuse)
from .survey import SurveyItem, read_answers, score, simulate_chance_answers, write_survey

__all__ = ["CAMS", "COMBINATIONS", "FAST", "FUSIONS", "INPUTS", "OURS", "PAPER", "PAPER_PEER", "TOP5", "WHY", "ClassifierRun",
           "Combination", "FeatureCamSettings", "SurveyItem", "class_discrimination", "combination_table",
           "deletion_insertion", "edge_similarity", "edges_text", "percentile_sensitivity", "explanation_mask", "explanation_maps", "feature_inputs", "fuse", "paper_claims",
           "read_answers", "road_scores", "run_classifier", "sanity_check", "sanity_claims", "sanity_photos", "score", "settings",
           "simulate_chance_answers", "soft_mask_metrics", "table2", "table3", "write_survey"]
