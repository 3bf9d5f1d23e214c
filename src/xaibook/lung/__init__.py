"""Chapter 03_lung_sliding (in progress): lung-ultrasound video I/O, the paper's preprocessing, a B-mode simulator."""
from .dataset import (CLIP_FRAMES, LABELS, PAPER_FPS, PAPER_SIZE, PATCHES, LungClips, PatchSet, build_patch_sets,
                      cut_clips, data_set_names, load_clips, load_index, m_mode, scale_roi, split_patients,
                      tile_patches, unify)
from .standin import LungStandinSpec, Patient, Scene, draw_patients, write_standin
from .video import CODECS, LungDataError, Video, read_video, write_video

__all__ = ["CLIP_FRAMES", "CODECS", "LABELS", "PAPER_FPS", "PAPER_SIZE", "PATCHES", "LungClips", "LungDataError",
           "LungStandinSpec", "PatchSet", "Patient", "Scene", "Video", "build_patch_sets", "cut_clips",
           "data_set_names", "draw_patients", "load_clips", "load_index", "m_mode", "read_video", "scale_roi",
           "split_patients", "tile_patches", "unify", "write_standin", "write_video"]
