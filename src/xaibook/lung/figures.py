"""The figures of chapter 03_lung_sliding: M-mode signs (Fig. 1), class distributions (Fig. 4), saliency
through time (Fig. 5) and where the saliency sits."""
from __future__ import annotations

import numpy as np
import pandas as pd


def m_mode_figure(examples: list[tuple[str, np.ndarray, np.ndarray, int, dict[str, int]]], title: str = ""):
    """Fig. 1: per example (label, first frame (H, W), M-mode (H, T), column, roi), the B-mode frame with the
    M-mode line and the M-mode image (time to the right)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(examples), figsize=(3.2 * len(examples), 5.2), squeeze=False,
                             gridspec_kw={"height_ratios": [1, 1]})
    for k, (label, frame, mm, col, roi) in enumerate(examples):
        ax = axes[0, k]
        ax.imshow(frame, cmap="gray", vmin=0, vmax=255)
        ax.axvline(col, color="yellow", lw=0.8)
        ax.add_patch(plt.Rectangle((roi["left"], roi["top"]), roi["right"] - roi["left"], roi["bottom"] - roi["top"],
                                   fill=False, edgecolor="cyan", lw=0.8))
        ax.set_title(f"B-mode, sliding {label}", fontsize=8)
        ax.axis("off")
        ax = axes[1, k]
        ax.imshow(mm, cmap="gray", vmin=0, vmax=255, aspect="auto")
        ax.set_title("M-mode: " + ("seashore expected" if label == "present" else "barcode expected"), fontsize=8)
        ax.set_xlabel("frame")
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def class_distribution_figure(ours: pd.DataFrame, paper: pd.DataFrame, title: str = ""):
    """Fig. 4: patches per data set and class, ours beside the paper's (its counts on a second axis)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharey=False)
    for ax, table, name in ((axes[0], paper, "paper"), (axes[1], ours, "ours")):
        x = np.arange(len(table))
        ax.bar(x - 0.2, table["present"], 0.4, label="present", color="tab:blue")
        ax.bar(x + 0.2, table["absent"], 0.4, label="absent", color="tab:orange")
        ax.set_xticks(x, table.index, rotation=30, fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("patches")
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def saliency_through_time(inputs: np.ndarray, vanilla: np.ndarray, smooth: np.ndarray, every: int,
                          frame_stride: int, title: str = ""):
    """Fig. 5: frames ``every`` model frames apart (rows: input, vanilla saliency, SmoothGrad), one patch."""
    import matplotlib.pyplot as plt

    idx = np.arange(0, inputs.shape[0], every)
    fig, axes = plt.subplots(3, len(idx), figsize=(1.2 * len(idx), 4.0), squeeze=False)
    rows = (("input", inputs, "gray"), ("vanilla", vanilla, "inferno"), ("SmoothGrad", smooth, "inferno"))
    for r, (name, arr, cmap) in enumerate(rows):
        vmax = np.percentile(arr, 99.5) if name != "input" else None
        for c, t in enumerate(idx):
            ax = axes[r, c]
            im = ax.imshow(arr[t], cmap=cmap, vmin=0 if name != "input" else None, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {t * frame_stride}", fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
        if name != "input":
            bar = fig.colorbar(im, ax=axes[r].tolist(), shrink=0.9, pad=0.01, fraction=0.03)
            bar.set_label("|gradient| (clipped at its 99.5th percentile)", fontsize=7)
            bar.ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def energy_over_time(curves: dict[str, np.ndarray], frame_stride: int, title: str = ""):
    """Each frame's share of the map's energy, per method (uniform = 1 / T)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6))
    for name, curve in curves.items():
        ax.plot(np.arange(len(curve)) * frame_stride, curve, label=name)
    n = len(next(iter(curves.values())))
    ax.axhline(1 / n, color="gray", ls=":", label="uniform")
    ax.set_xlabel("frame of the 60-frame clip")
    ax.set_ylabel("share of energy")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
