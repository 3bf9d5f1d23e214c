"""The figures of chapter 05_feature_cam: the photographs, the three inputs (the paper's Fig. 2), an
explanation map's stages (Fig. 3) and the nine combinations (Figs. 4-5)."""
from __future__ import annotations

import numpy as np

from .method import COMBINATIONS, FUSIONS, INPUTS, explanation_mask, feature_inputs


def _unit(crop: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 255.0


def photos_figure(photos: dict[str, np.ndarray], classes: dict[str, dict[int, str]], limit: int = 10,
                  per_row: int = 5):
    """The first ``limit`` images with their acceptable classes, ``per_row`` to a row."""
    import matplotlib.pyplot as plt

    shown = list(photos)[:limit]
    rows = -(-len(shown) // per_row)
    cols = min(per_row, len(shown))
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, shown):
        ax.imshow(photos[name])
        ax.set_title(f"{name}\n{', '.join(list(classes[name].values())[:2])}", fontsize=8)
    fig.tight_layout()
    return fig


def inputs_figure(run, i: int, title: str = ""):
    """Fig. 2: the photograph and the three inputs built from its HED edges."""
    import matplotlib.pyplot as plt

    inputs = feature_inputs(_unit(run.crops[i]), run.edges[i:i + 1])
    fig, axes = plt.subplots(1, 4, figsize=(9, 2.6))
    axes[0].imshow(run.crops[i])
    axes[0].set_title("photograph", fontsize=8)
    for ax, (k, name) in zip(axes[1:], INPUTS.items()):
        ax.imshow(inputs[k][0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"input {k}: {name}", fontsize=8)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def explanation_figure(run, i: int, cam: str, combination, percentile: float, title: str = ""):
    """Fig. 3: for the CAM and one Feature CAM: the map, its mask and the explanation map."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(9, 4.6))
    for row, variant in enumerate(("CAM", combination)):
        m = run.maps(cam, variant)[i:i + 1]
        mask = explanation_mask(m, percentile)[0].numpy()
        name = cam if variant == "CAM" else f"{cam} · {combination.name}"
        panels = ((run.crops[i], "photograph"), (m[0].numpy(), name), (mask, "mask (top 20%)"),
                  (run.crops[i] * mask[..., None], "explanation map"))
        for ax, (img, label) in zip(axes[row], panels):
            heat = img.ndim == 2 and label == name
            im = ax.imshow(img, cmap="jet" if heat else "gray", **({"vmin": 0, "vmax": 1} if heat else {}))
            ax.set_title(label, fontsize=8)
            ax.axis("off")
            if heat:
                shown = im
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    from ..book.plotting import add_colorbar

    add_colorbar(fig, shown, axes.ravel().tolist())
    return fig


def combinations_figure(run, i: int, cam: str, title: str = ""):
    """Figs. 4-5: the CAM and its nine Feature CAM maps (rows: fusion, columns: input)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(FUSIONS), len(INPUTS) + 1, figsize=(8, 6))
    for r, fusion in enumerate(FUSIONS):
        ax = axes[r, 0]
        ax.imshow(run.crops[i])
        ax.imshow(run.maps(cam, "CAM")[i].numpy(), cmap="jet", alpha=0.5)
        ax.set_title(cam if r == 0 else "", fontsize=8)
        ax.set_ylabel(fusion, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        for c, k in enumerate(INPUTS):
            combo = next(x for x in COMBINATIONS if x.fusion == fusion and x.input == k)
            ax = axes[r, c + 1]
            shown = ax.imshow(run.maps(cam, combo)[i].numpy(), cmap="jet", vmin=0, vmax=1)
            ax.set_title(combo.name, fontsize=8)
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    from ..book.plotting import add_colorbar

    add_colorbar(fig, shown, axes.ravel().tolist())
    return fig
