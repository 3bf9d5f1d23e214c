"""Chapter 03_lung_sliding: lung-ultrasound video I/O, the paper's preprocessing, a B-mode simulator, the
15 configurations, the M-mode baseline and saliency through time."""
from .dataset import (CLIP_FRAMES, LABELS, PAPER_FPS, PAPER_SIZE, PATCHES, LungClips, PatchSet, build_patch_sets,
                      cut_clips, data_set_names, load_clips, load_index, m_mode, scale_roi, split_patients,
                      tile_patches, unify)
from .experiment import (CONFIGS, DATA_SETS, DEPTHS, FAST, PAPER, SMOKE, TABLE5, WHY, LungSettings, binary_metrics,
                         class_counts, motion_ablation, paper_claims, paper_sets, patient_verdicts, results_table,
                         roughness, run_config, run_mmode, saliency_study, settings, split_set, validation_patients,
                         verdict_accuracy)
from .standin import (LungStandinSpec, Patient, Scene, draw_patients, ensure_standin, load_truth, pleura_depth_px,
                      write_standin)
from .video import CODECS, LungDataError, Video, read_video, write_video

__all__ = ["CLIP_FRAMES", "CODECS", "CONFIGS", "DATA_SETS", "DEPTHS", "FAST", "LABELS", "PAPER", "PAPER_FPS",
           "PAPER_SIZE", "PATCHES", "SMOKE", "TABLE5", "WHY", "LungClips", "LungDataError", "LungSettings", "LungStandinSpec",
           "PatchSet", "Patient", "Scene", "Video", "binary_metrics", "build_patch_sets", "class_counts", "cut_clips",
           "data_set_names", "draw_patients", "ensure_standin", "load_clips", "load_index", "load_truth", "m_mode",
           "motion_ablation", "paper_claims", "paper_sets", "patient_verdicts", "pleura_depth_px", "read_video",
           "results_table", "roughness", "run_config", "run_mmode", "saliency_study", "scale_roi", "settings",
           "split_patients", "split_set", "tile_patches", "unify", "validation_patients", "verdict_accuracy",
           "write_standin", "write_video"]
