"""Figures for the chapters. Each helper returns a new figure and changes no global state (STYLE 8)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib import colormaps
from matplotlib.figure import Figure


def confusion_figure(matrices: Sequence[np.ndarray], labels: Sequence[Sequence[str]], titles: Sequence[str],
                     *, caption: str = "") -> Figure:
    """Row-normalised confusion matrices side by side (rows: true label, columns: prediction)."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 3.8), squeeze=False)
    for ax, cm, lab, title in zip(axes[0], matrices, labels, titles):
        sns.heatmap(cm, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="Blues", cbar=False, square=True,
                    xticklabels=lab, yticklabels=lab, ax=ax)
        ax.set(xlabel="predicted", ylabel="true", title=title)
    if caption:
        fig.suptitle(caption, fontsize=9, y=0.02, va="bottom")
    fig.tight_layout()
    return fig


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend an (H, W, 3) uint8 image with a jet-coloured [0, 1] map; returns a new float array."""
    colour = colormaps["jet"](np.clip(heat, 0, 1))[..., :3]
    return (1 - alpha) * image.astype(float) / 255 + alpha * colour


def cam_panels(images: np.ndarray, maps: np.ndarray, titles: Sequence[str],
               boxes: Sequence[tuple[int, int, int, int]] | None = None) -> Figure:
    """Rows of (image, heat map, overlay), as in Fig. 4 of Austerjost et al.; boxes drawn in green.

    Args:
        images: (N, H, W, 3) uint8. maps: (N, H, W) in [0, 1]. boxes: (top, bottom, left, right).
    """
    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(6.0, 2.0 * n), squeeze=False)
    for i in range(n):
        panels = (images[i], maps[i], overlay(images[i], maps[i]))
        for j, (ax, p) in enumerate(zip(axes[i], panels)):
            ax.imshow(p, cmap="jet" if j == 1 else None, vmin=0, vmax=1 if j == 1 else None)
            ax.set_xticks([]), ax.set_yticks([])
            if boxes is not None and j != 1:
                t, b, l, r = boxes[i]
                ax.add_patch(plt.Rectangle((l - 0.5, t - 0.5), r - l, b - t, fill=False, ec="lime", lw=1))
        axes[i, 0].set_ylabel(titles[i], fontsize=8)
    for ax, name in zip(axes[0], ("image", "GradCAM++", "overlay")):
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


def image_grid(images: np.ndarray, titles: Sequence[str], ncols: int = 8) -> Figure:
    """A grid of (N, H, W, 3) uint8 images with small titles."""
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.55 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, im, t in zip(axes.ravel(), images, titles):
        ax.imshow(im)
        ax.set_title(t, fontsize=7)
    fig.tight_layout()
    return fig
