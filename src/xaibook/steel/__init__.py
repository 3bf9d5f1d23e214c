"""Chapter 04_steel_defects: the Severstal steel images, their patch dataset, a stand-in and the download."""
from .dataset import (BACKGROUND_THRESHOLD, CLASSES, CROP_LEFT, IMAGE_HEIGHT, IMAGE_WIDTH, LABEL_NAMES,
                      MAX_BACKGROUND_SHARE, MULTIPLE, N_PATCHES, NO_DEFECT, PAPER_CROP, PAPER_TABLE1, PATCH,
                      SteelDataError, SteelPatches, background_share, cut_image, defect_masks, load_patches,
                      patch_columns, patch_label, patch_table, read_image, read_index, table1)
from .download import (COMPETITION, RULES_URL, KaggleDownloadError, UnsafeArchiveError, check_archive,
                       credential_files, download_severstal, explain_failure, extract_archive, find_credentials)
from .rle import rle_decode, rle_encode
from .standin import DEFECTIVE_SHARE, draw_classes, ensure_standin, render_image, write_standin

__all__ = ["BACKGROUND_THRESHOLD", "CLASSES", "COMPETITION", "CROP_LEFT", "DEFECTIVE_SHARE", "IMAGE_HEIGHT",
           "IMAGE_WIDTH", "KaggleDownloadError", "LABEL_NAMES", "MAX_BACKGROUND_SHARE", "MULTIPLE", "NO_DEFECT",
           "N_PATCHES", "PAPER_CROP", "PAPER_TABLE1", "PATCH", "RULES_URL", "SteelDataError", "SteelPatches",
           "UnsafeArchiveError", "background_share", "check_archive", "credential_files", "cut_image",
           "defect_masks", "download_severstal", "draw_classes", "ensure_standin", "explain_failure",
           "extract_archive", "find_credentials", "load_patches", "patch_columns", "patch_label", "patch_table",
           "read_image", "read_index", "render_image", "rle_decode", "rle_encode", "table1", "write_standin"]
