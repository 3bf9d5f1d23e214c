"""Figures for the chapters. Each helper returns a new figure and changes no global state (STYLE 8)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib import colormaps
from matplotlib.figure import Figure


def add_colorbar(fig: Figure, image, axes, label: str = "saliency (each map scaled to [0, 1])") -> None:
    """A colour bar for a heat map drawn by ``imshow`` (``image``), beside ``axes``."""
    bar = fig.colorbar(image, ax=axes, shrink=0.8, pad=0.02, fraction=0.04)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)


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
            im = ax.imshow(p, cmap="jet" if j == 1 else None, vmin=0, vmax=1 if j == 1 else None)
            if j == 1:
                heat = im
            ax.set_xticks([]), ax.set_yticks([])
            if boxes is not None and j != 1:
                t, b, l, r = boxes[i]
                ax.add_patch(plt.Rectangle((l - 0.5, t - 0.5), r - l, b - t, fill=False, ec="lime", lw=1))
        axes[i, 0].set_ylabel(titles[i], fontsize=8)
    for ax, name in zip(axes[0], ("image", "GradCAM++", "overlay")):
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    add_colorbar(fig, heat, axes.ravel().tolist())
    return fig


def image_grid(images: np.ndarray, titles: Sequence[str], ncols: int = 8, colorbar: str | None = None) -> Figure:
    """A grid of (N, H, W, 3) uint8 images with small titles; ``colorbar``: the label of a jet colour bar
    on [0, 1] for grids of heat maps already blended into the images."""
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.55 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, im, t in zip(axes.ravel(), images, titles):
        ax.imshow(im)
        ax.set_title(t, fontsize=7)
    fig.tight_layout()
    if colorbar:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        add_colorbar(fig, ScalarMappable(Normalize(0, 1), "jet"), axes.ravel().tolist(), colorbar)
    return fig


def outline(image: np.ndarray, mask: np.ndarray, colour: tuple[float, float, float] = (1.0, 0.0, 0.0)) -> np.ndarray:
    """A float copy of an (H, W, 3) uint8 image with the boundary of a boolean mask drawn in ``colour``."""
    from scipy.ndimage import binary_erosion

    out = image.astype(float) / 255
    edge = mask & ~binary_erosion(mask)
    out[edge] = colour
    return out


def maps_row(image: np.ndarray, mask: np.ndarray, maps: dict[str, np.ndarray], title: str = "",
             per_row: int = 5) -> Figure:
    """One sample: the input with its defect outline, the mask, and every method's [0, 1] map (Fig. 3),
    ``per_row`` panels to a row so that labels stay readable at the page's width."""
    n = len(maps) + 2
    rows, cols = -(-n // per_row), min(per_row, n)
    fig, grid = plt.subplots(rows, cols, figsize=(2.0 * cols + 0.8, 2.3 * rows), squeeze=False)
    axes = grid.ravel()
    axes[0].imshow(outline(image, mask))
    axes[0].set_title("input", fontsize=9)
    axes[1].imshow(mask, cmap="gray")
    axes[1].set_title("defect mask", fontsize=9)
    heat = None
    for ax, (name, m) in zip(axes[2:], maps.items()):
        heat = ax.imshow(m, cmap="jet", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    for ax in axes[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10, y=1.02)
    fig.tight_layout()
    if heat is not None:
        add_colorbar(fig, heat, axes.tolist())
    return fig


def pointing_game_figure(parts, title: str = "") -> Figure:
    """Fig. 4 of Lorentz et al.: mask, distance mask, map, mask x map, distance x map."""
    panels = [("defect mask", parts.mask, "gray"), ("distance mask", parts.distance, "viridis"),
              ("saliency map", parts.saliency, "jet"), ("mask x map (inside)", parts.inside, "jet"),
              ("distance x map (outside)", parts.outside, "jet")]
    fig, grid = plt.subplots(2, 3, figsize=(8.5, 5.2))
    axes = grid.ravel()
    for ax, (name, arr, cmap) in zip(axes, panels):
        im = ax.imshow(arr, cmap=cmap)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
        if cmap != "gray":
            fig.colorbar(im, ax=ax, shrink=0.8, fraction=0.046, pad=0.02).ax.tick_params(labelsize=7)
    axes[-1].axis("off")
    fig.suptitle(title, fontsize=10, y=1.0)
    fig.tight_layout()
    return fig


def score_vs_speed(points, pairs: Sequence[tuple[str, str]], *, title: str = "") -> Figure:
    """Fig. 5a: median score against median maps per second (log x); lines join ``pairs`` of variants.

    ``points``: a DataFrame indexed by variant with columns "maps/s" and "median score".
    """
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    for a, b in pairs:
        ax.plot(points.loc[[a, b], "maps/s"], points.loc[[a, b], "median score"], color="0.6", lw=1, zorder=1)
    ax.scatter(points["maps/s"], points["median score"], zorder=2)
    # labels of points that sit close together alternate above and below, left and right, so they do
    # not print over each other (points sorted by score, neighbours get different offsets)
    offsets = [(4, 4), (4, -10), (-4, 4), (-4, -10)]
    for k, (name, row) in enumerate(points.sort_values("median score").iterrows()):
        dx, dy = offsets[k % len(offsets)]
        ax.annotate(name, (row["maps/s"], row["median score"]), fontsize=8, xytext=(dx, dy),
                    textcoords="offset points", ha="left" if dx > 0 else "right")
    ax.set(xscale="log", xlabel="median maps per second", ylabel="median distance score", title=title)
    fig.tight_layout()
    return fig


def score_distributions(scores: dict[str, np.ndarray], *, title: str = "") -> Figure:
    """Fig. 5b: per-sample distance scores of each method (its best normalisation), as box plots."""
    import pandas as pd

    long = pd.DataFrame([(k, v) for k, arr in scores.items() for v in arr if np.isfinite(v)], columns=["method", "score"])
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    sns.boxplot(data=long, x="method", y="score", ax=ax, color="C0", fliersize=2)
    ax.tick_params(axis="x", rotation=35, labelsize=8)
    ax.set(xlabel="", ylabel="distance score", title=title)
    fig.tight_layout()
    return fig


OUTCOME_COLOURS = {"TP": "#2b8cbe", "TN": "#a6bddb", "FP": "#e34a33", "FN": "#fdbb84"}


def cluster_bars(tables: dict[str, "object"], *, title: str = "") -> Figure:
    """Figs. 3 and 5 of Kierdorf & Roscher: images per cluster, stacked by TP / TN / FP / FN, one panel per set.

    ``tables``: panel title -> the DataFrame of :func:`xaibook.cauliflower.reliability.cluster_table` (columns
    TP, TN, FP, FN, r_q; one row per cluster). Each bar is labelled with its share of wrong
    predictions. Used in chapter 02_cauliflower.
    """
    fig, axes = plt.subplots(1, len(tables), figsize=(4.6 * len(tables), 3.2), squeeze=False)
    for ax, (name, table) in zip(axes[0], tables.items()):
        x = np.arange(len(table))
        bottom = np.zeros(len(table))
        for outcome, colour in OUTCOME_COLOURS.items():
            values = table[outcome].to_numpy(dtype=float)
            ax.bar(x, values, bottom=bottom, color=colour, label=outcome, width=0.75)
            bottom += values
        for xi, top, r in zip(x, bottom, table["r_q"].to_numpy(dtype=float)):
            if np.isfinite(r):
                ax.annotate(f"{100 * r:.0f}%", (xi, top), ha="center", va="bottom", fontsize=7,
                            xytext=(0, 1), textcoords="offset points")
        ax.set_xticks(x, [str(c + 1) for c in table.index])
        ax.set(xlabel="cluster", ylabel="images", title=name)
        ax.margins(y=0.12)
    axes[0, -1].legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9, y=1.02)
    fig.tight_layout()
    return fig


def prototype_row(prototypes: np.ndarray, titles: Sequence[str], *, signed: bool = False, title: str = "") -> Figure:
    """Figs. 4 and 6 of Kierdorf & Roscher: the mean map of each cluster, one panel each.

    ``prototypes``: (q, H, W); ``signed`` draws a diverging map symmetric about 0 (blue low, red
    high: the paper's occlusion colours), else jet on [0, max]. A cross marks the patch centre (the
    stem). Used in chapter 02_cauliflower.
    """
    q = len(prototypes)
    cols = min(q, 4)                    # rows of four keep the titles readable at the page's width
    rows = -(-q // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols + 0.8, 2.4 * rows), squeeze=False)
    for ax in axes.ravel()[q:]:
        ax.axis("off")
    for ax, proto, name in zip(axes.ravel(), prototypes, titles):
        if signed:
            lim = float(np.nanmax(np.abs(proto))) or 1.0
            heat = ax.imshow(proto, cmap="RdBu_r", vmin=-lim, vmax=lim)
        else:
            heat = ax.imshow(proto, cmap="jet", vmin=0, vmax=max(float(np.nanmax(proto)), 1e-12))
        h, w = proto.shape
        ax.plot([(w - 1) / 2], [(h - 1) / 2], "w+", ms=6, mew=1)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9, y=1.04)
    fig.tight_layout()
    add_colorbar(fig, heat, axes.ravel().tolist(), "mean map (each panel its own scale)" if not signed else
                 "mean map (blue: against, red: for)")
    return fig


def reliability_diagram(predicted: np.ndarray, observed: np.ndarray, sizes: np.ndarray, labels: Sequence[str],
                        *, title: str = "") -> Figure:
    """Predicted reliability (from validation) against the observed share of correct predictions (test).

    One point per cluster and method, its area proportional to the number of test images; the
    diagonal is perfect calibration. Used in chapter 02_cauliflower.
    """
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", zorder=1)
    groups = list(dict.fromkeys(labels))
    for g, colour in zip(groups, sns.color_palette("colorblind", len(groups))):
        sel = np.asarray(labels) == g
        ax.scatter(predicted[sel], observed[sel], s=8 + 4 * sizes[sel], color=colour, alpha=0.7, label=g, zorder=2)
    ax.set(xlim=(-0.03, 1.03), ylim=(-0.03, 1.03), xlabel="reliability predicted on validation (1 - r_q)",
           ylabel="share correct on test", title=title)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


def randomisation_curves(table, *, step: str = "randomised down to", measures: Sequence[str] = ("Spearman |map|", "SSIM"),
                         title: str = "") -> Figure:
    """Adebayo et al.'s Fig. 2 layout: similarity to the trained model's maps against randomisation depth,
    one curve per map, one panel per measure (``table``: one row per step and map, as
    :func:`xaibook.saliency.sanity.model_randomisation` averaged over inputs). Used in chapter 05_feature_cam."""
    steps = list(dict.fromkeys(table[step]))
    fig, axes = plt.subplots(1, len(measures), figsize=(4.4 * len(measures), 3.2), squeeze=False)
    for ax, measure in zip(axes[0], measures):
        for label, rows in table.groupby("map", sort=False):
            values = rows.set_index(step)[measure].reindex(steps).to_numpy(dtype=float)
            dashed = label.startswith("Ours")
            ax.plot(range(len(steps)), values, marker="o", ms=3, ls="--" if dashed else "-", label=label)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_xticks(range(len(steps)), steps, rotation=30, ha="right", fontsize=7)
        ax.set(xlabel="randomised down to (cascading, top first)", ylabel=measure, ylim=(-0.2, 1.05))
    axes[0, -1].legend(fontsize=6, frameon=False, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=9, y=1.02)
    fig.tight_layout()
    return fig
