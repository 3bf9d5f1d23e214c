"""Maps per second: our saliency methods against pytorch-grad-cam and captum (chapter 04_steel_defects).

Lorentz et al. 2021 (Sect. 4.1, Fig. 5a) report the median frames per second of each method on
one GPU. This script times our implementation of each method and the reference library on the
identical model (torchvision ResNet-18, random init, eval mode, five classes: no defect and four
defect classes), batch, input size and target class, and prints one table::

    method | batch | ours maps/s | reference maps/s | ratio ours/ref | limit | ours / limit | device

How close to the limit: each row is divided by one of two floors a gradient method can reach,
named in column ``limit`` and timed for the same model, batch and target in the same rounds as the
method (ours, reference and limit calls alternate, so all three see the same load on a shared
machine; the limit rows time each floor on its own as well):

* ``fwd+bwd to input``: one forward pass and one backward pass all the way to the input. This is
  the floor of VanillaGrad (and of any method that needs the gradient at the input), so its
  ``ours / limit`` cannot exceed 1 beyond timing noise (1.0 = no overhead).
* ``fwd+bwd to <layer>``: one forward pass and one backward pass that stops at the CAM target
  layer (``torch.autograd.grad(score.sum(), activations)`` on the layer's output, captured with a
  forward hook). Our Grad-CAM and Grad-CAM++ take their gradients exactly that way
  (``BaseCAM.layer_gradients``), so this, not the pass to the input, is their floor. Divided by
  the pass to the input instead, a CAM can exceed 1: it skips the backward pass through every
  block below its layer. pytorch-grad-cam calls ``loss.backward()``, which also fills every
  parameter's ``.grad`` down to the first convolution, so its CAMs pay for more than this floor.
* The other methods (ScoreCAM, SmoothGrad-n, DeepLift) are divided by the pass to the input as a
  unit, not as a bound: SmoothGrad-n does n such passes (batched: one pass over n copies),
  ScoreCAM one forward pass per channel, DeepLift one pass over the input and its reference.

Video rows (``--methods video``): the 3D ResNet-18 of keras-resnet3d that chapter 03 uses
(``xaibook.models.resnet3d``, random init, one grey channel, one sigmoid logit) on clips of
60 x 30 x 30 (frames x height x width): VanillaGrad and SmoothGrad-50 batched and unbatched
against captum's Saliency and NoiseTunnel, and 3D Grad-CAM and Grad-CAM++ at the last stage
(``layer4``, 512 channels of 2 x 1 x 1 for these clips) against pytorch-grad-cam's GradCAM and
GradCAMPlusPlus, which accept (N, C, T, H, W) inputs since 1.5 (spatial means over the three axes,
scipy ``zoom`` to resize); each video row against the clip model's own limit rows.

Protocol: per method, ``--warmup`` untimed calls, then ``--repeats`` timed calls of each side,
ours, the reference and the row's limit alternating so that all see the same load on a shared
machine (``ours / limit`` is the median over rounds of limit time / our time in that round); each call
maps one batch of ``--batch`` images and is timed with ``time.perf_counter`` between
``torch.cuda.synchronize()`` calls on a GPU (building the method and registering its hooks is
not timed); reported is ``batch / median(call time)``. Both sides get the same precomputed
predicted class, so neither pays for an extra forward pass.
Nothing is asserted: this is a measurement, not a test, and no test imports it.

A method of ours that is not importable yet is skipped with the reason printed. A method that
raises is reported as ``error`` with its traceback after the table, and the script exits 1.

Usage::

    python benchmarks/saliency_throughput.py --quick                  # smoke test, < 1 min on 2 cores
    python benchmarks/saliency_throughput.py --device cuda --repeats 50
    python benchmarks/saliency_throughput.py --methods gradcam,deeplift --size 128
    python benchmarks/saliency_throughput.py --batch 1,32 --methods gradcam,gradcampp,vanillagrad,video
    # the README's CPU table (every single-pass method and the video rows; minutes on 2 cores):
    python benchmarks/saliency_throughput.py --batch 1 --methods gradcam,gradcampp,vanillagrad,video --repeats 5 --warmup 1

Reference variants, written down because they are not the same computation as ours:

* pytorch-grad-cam calls ``loss.backward()`` (gradients for every parameter too), returns
  min-max-scaled numpy maps resized with OpenCV on the CPU, so a GPU run includes the copy back.
  Its ScoreCAM draws a tqdm bar per call; it is disabled here (``TQDM_DISABLE=1``).
  Its ScoreCAM feeds every channel of the target layer through the model; ours skips channels
  that are constant after upsampling (all-zero ReLU channels, or 1 x 1 maps), whose masks carry
  no information. The script prints how many there are for its input.
* captum returns raw (N, C, H, W) attributions; ours sums them over channels into raw (N, H, W)
  maps (VanillaGrad, SmoothGrad, DeepLift). SmoothGrad's noise is 0.02 x the input range (the
  paper's setting): per sample in ours, passed to captum as one absolute standard deviation.
  Unbatched SmoothGrad is ``batch_size=None`` in ours (one noisy copy per pass) and
  ``nt_samples_batch_size=1`` in captum; batched puts all n copies in one pass on both sides.
* DeepLift: torchvision's BasicBlock calls one in-place ``nn.ReLU`` module twice, and captum's
  DeepLift then raises (it needs one module per use). Both sides therefore run on a traced copy
  of the same model in which every ReLU call has its own non-in-place module (same weights,
  same outputs), marked * in the table. Both sides explain the same blur reference
  (``xaibook.saliency.gaussian_blur``, sigma 10 px), built inside the timed call.
* ``--quick`` targets ``layer1`` (64 channels) instead of ``layer4`` (512) so that ScoreCAM's one
  forward pass per channel fits in a smoke test; its numbers are not for reporting.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import importlib
import os
import platform
import statistics
import sys
import time
import traceback
import warnings
from typing import Callable, ContextManager, Iterator, Sequence

os.environ.setdefault("TQDM_DISABLE", "1")  # before pytorch-grad-cam imports tqdm

import captum  # noqa: E402
import pytorch_grad_cam  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from captum.attr import DeepLift, NoiseTunnel, Saliency  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from torch import nn  # noqa: E402

NUM_CLASSES = 5          # steel patches: no defect and defect classes 1-4
NOISE = 0.02             # SmoothGrad noise, x the input range (Lorentz et al. 2021, Sect. 4)
SMOOTH_SAMPLES = (10, 50, 100)
SCORECAM_BATCHES = (1, 25, 50)
BLUR_SIGMA = 10.0        # DeepLift blur reference, px (the paper gives none; our DeepLift's default)
FAMILIES = ("gradcam", "gradcampp", "scorecam", "vanillagrad", "smoothgrad", "deeplift", "video")
VIDEO_CLIP = (60, 30, 30)  # frames, height, width: chapter 03's fast-profile clips
VIDEO_SMOOTH = 50
VIDEO_LAYER = "layer4"     # the clip model's last stage: its 3D CAMs' target layer
LIMITS = ("input", "layer")  # what a row is divided by: fwd+bwd to the input, or to the CAM target layer

# captum tells on every call that it set requires_grad and hooks on the ReLUs: expected here
warnings.filterwarnings("ignore", message=r"Input Tensor \d+ did not already require gradients")
warnings.filterwarnings("ignore", message=r"\s*Setting forward, backward hooks and attributes on non-linear")

Runner = Callable[[torch.Tensor], object]


class Skip(Exception):
    """Our implementation of a method cannot be imported yet."""


@dataclasses.dataclass
class Setting:
    """What both sides share on one device: the model, its CAM layer and the target classes."""

    model: nn.Module
    layer: nn.Module
    layer_name: str         # the CAM target layer's name in the model, for the table
    classes: torch.Tensor
    relu_model: nn.Module   # same weights, one non-in-place ReLU module per use (for DeepLift)
    video: bool = False     # a 3D model on clips: only the video cases run on it


@dataclasses.dataclass(frozen=True)
class Case:
    label: str
    family: str
    ours: Callable[[Setting], ContextManager[Runner]]
    ref: Callable[[Setting], ContextManager[Runner]] | None
    limit: str              # "input" or "layer": the limit it is divided by, timed in the same rounds
    note: str = ""
    video: bool = False
    limit_row: bool = False  # the row that times a limit itself

    def __post_init__(self) -> None:
        if self.limit not in LIMITS:
            raise ValueError(f"case {self.label!r}: limit must be one of {LIMITS}, got {self.limit!r}")


# ----------------------------------------------------------------------------- our side

def _ours(module: str, name: str):
    """Our method ``name``: a key of ``METHODS`` or an export of ``xaibook.saliency``.

    ``xaibook.saliency.<module>`` is imported first when the name is not there yet, since
    importing a method's module is what registers it. Raises :class:`Skip` when it is still missing.
    """
    try:
        from xaibook import saliency
    except ImportError as err:  # e.g. its __init__ names a module that is still being written
        raise Skip(f"xaibook.saliency is not importable: {type(err).__name__}: {err}") from err

    def lookup():
        if name in saliency.METHODS:
            return saliency.METHODS.get(name)
        if name in saliency.__all__:
            return getattr(saliency, name)
        return None

    found = lookup()
    if found is None:
        try:
            importlib.import_module(f"xaibook.saliency.{module}")
        except ImportError as err:
            raise Skip(f"our {name!r} is not importable yet: {type(err).__name__}: {err}") from err
        found = lookup()
    if found is None:
        raise Skip(f"our {name!r} is neither registered in xaibook.saliency.METHODS nor exported by "
                   f"xaibook.saliency (looked in xaibook.saliency.{module} too)")
    return found


def _target(s: Setting):
    from xaibook.saliency import class_score
    return class_score(s.classes)


@contextlib.contextmanager
def ours_method(s: Setting, module: str, name: str, layer: bool = True, **kwargs) -> Iterator[Runner]:
    method = _ours(module, name)(s.model, s.layer if layer else None, **kwargs)
    target = _target(s)
    yield lambda x: method.attribute(x, target)


@contextlib.contextmanager
def ours_smoothgrad(s: Setting, n: int, batched: bool) -> Iterator[Runner]:
    vanilla = _ours("gradients", "vanillagrad")
    smooth = _ours("smooth", "SmoothGrad")
    method = smooth(vanilla(s.model, None), n, noise=NOISE, batch_size=n if batched else None)
    target = _target(s)
    yield lambda x: method.attribute(x, target)


@contextlib.contextmanager
def ours_deeplift(s: Setting, baseline: str) -> Iterator[Runner]:
    method = _ours("gradients", "deeplift")(s.relu_model, None, baseline=baseline, sigma=BLUR_SIGMA)
    target = _target(s)
    yield lambda x: method.attribute(x, target)


@contextlib.contextmanager
def input_limit(s: Setting) -> Iterator[Runner]:
    """The floor of an input-gradient method (VanillaGrad): one forward pass, one backward pass to the input."""
    def run(x: torch.Tensor):
        xx = x.detach().requires_grad_(True)
        with torch.enable_grad():
            scores = s.model(xx).gather(1, s.classes[:, None])[:, 0]
            return torch.autograd.grad(scores.sum(), xx)[0]
    yield run


@contextlib.contextmanager
def layer_limit(s: Setting) -> Iterator[Runner]:
    """The floor of a gradient CAM: one forward pass, one backward pass that stops at the target layer.

    The layer's output is captured by a forward hook (registered outside the timed call, removed
    on exit) and the target scores are differentiated w.r.t. it alone, as ``BaseCAM.layer_gradients``
    does; autograd then never runs the blocks below the layer backwards.
    """
    store: list[torch.Tensor] = []
    handle = s.layer.register_forward_hook(lambda _m, _i, out: store.append(out))

    def run(x: torch.Tensor):
        store.clear()
        with torch.enable_grad():
            scores = s.model(x.detach()).gather(1, s.classes[:, None])[:, 0]
            return torch.autograd.grad(scores.sum(), store[0])[0]

    try:
        yield run
    finally:
        handle.remove()


LIMIT_RUNNERS = {"input": input_limit, "layer": layer_limit}


# ----------------------------------------------------------------------- reference side

@contextlib.contextmanager
def ref_cam(s: Setting, name: str, batch_size: int | None = None) -> Iterator[Runner]:
    targets = [ClassifierOutputTarget(int(c)) for c in s.classes]
    # not its own `with` block: its __exit__ swallows IndexError
    cam = getattr(pytorch_grad_cam, name)(model=s.model, target_layers=[s.layer])
    if batch_size is not None:
        cam.batch_size = batch_size
    try:
        yield lambda x: cam(input_tensor=x, targets=targets)
    finally:
        cam.activations_and_grads.release()   # its hooks would otherwise slow down every later method
        s.model.zero_grad(set_to_none=True)   # its loss.backward() filled every parameter's .grad


@contextlib.contextmanager
def ref_saliency(s: Setting) -> Iterator[Runner]:
    method = Saliency(s.model)
    yield lambda x: method.attribute(x, target=s.classes, abs=False)


@contextlib.contextmanager
def ref_smoothgrad(s: Setting, n: int, batched: bool) -> Iterator[Runner]:
    method = NoiseTunnel(Saliency(s.model))

    def run(x: torch.Tensor):
        return method.attribute(x, nt_type="smoothgrad", nt_samples=n, nt_samples_batch_size=n if batched else 1,
                                stdevs=NOISE * float(x.max() - x.min()), target=s.classes, abs=False)

    yield run


@contextlib.contextmanager
def ref_deeplift(s: Setting, baseline: str) -> Iterator[Runner]:
    method = DeepLift(s.relu_model)
    if baseline == "zero":
        make = torch.zeros_like
    else:  # the identical reference input as ours, built inside the timed call as ours does
        blur = _ours("gradients", "gaussian_blur")
        make = lambda x: blur(x, BLUR_SIGMA)  # noqa: E731
    yield lambda x: method.attribute(x, baselines=make(x), target=s.classes)


# ------------------------------------------------------------------------------- cases

def limit_cases(layer: str, video: bool = False) -> list[Case]:
    """The two limit rows of one model: fwd+bwd to the input and to the CAM target ``layer`` (each its own limit)."""
    prefix = "video " if video else ""
    family = "video" if video else "limit"
    return [Case(f"{prefix}fwd+bwd to input (limit)", family, input_limit, None, "input", video=video, limit_row=True),
            Case(f"{prefix}fwd+bwd to {layer} (limit)", family, layer_limit, None, "layer", video=video,
                 limit_row=True)]


def cases(smooth_samples: Sequence[int] = SMOOTH_SAMPLES, scorecam_batches: Sequence[int] = SCORECAM_BATCHES,
          layer: str = "layer4") -> list[Case]:
    relu_note = "*"
    out = [
        Case("GradCAM", "gradcam", lambda s: ours_method(s, "cam", "gradcam"), lambda s: ref_cam(s, "GradCAM"),
             "layer"),
        Case("GradCAM++", "gradcampp", lambda s: ours_method(s, "cam", "gradcampp"),
             lambda s: ref_cam(s, "GradCAMPlusPlus"), "layer"),
    ]
    out += [Case(f"ScoreCAM b={b}", "scorecam", lambda s, b=b: ours_method(s, "scorecam", "scorecam", batch_size=b),
                 lambda s, b=b: ref_cam(s, "ScoreCAM", batch_size=b), "input") for b in scorecam_batches]
    out.append(Case("VanillaGrad", "vanillagrad", lambda s: ours_method(s, "gradients", "vanillagrad", layer=False),
                    ref_saliency, "input"))
    for n in smooth_samples:
        for batched in (False, True):
            out.append(Case(f"SmoothGrad-{n} {'batched' if batched else 'unbatched'}", "smoothgrad",
                            lambda s, n=n, b=batched: ours_smoothgrad(s, n, b),
                            lambda s, n=n, b=batched: ref_smoothgrad(s, n, b), "input"))
    out += [Case(f"DeepLift-{b}", "deeplift", lambda s, b=b: ours_deeplift(s, b), lambda s, b=b: ref_deeplift(s, b),
                 "input", note=relu_note) for b in ("zero", "blur")]
    return out + limit_cases(layer)


def video_cases(n: int = VIDEO_SMOOTH) -> list[Case]:
    """On clips: VanillaGrad, SmoothGrad-n (batched, unbatched), 3D Grad-CAM and Grad-CAM++ at
    :data:`VIDEO_LAYER`, and the clip model's two limit rows."""
    out = [Case("video VanillaGrad", "video", lambda s: ours_method(s, "gradients", "vanillagrad", layer=False),
                ref_saliency, "input", video=True)]
    for batched in (False, True):
        out.append(Case(f"video SmoothGrad-{n} {'batched' if batched else 'unbatched'}", "video",
                        lambda s, b=batched: ours_smoothgrad(s, n, b),
                        lambda s, b=batched: ref_smoothgrad(s, n, b), "input", video=True))
    out += [Case("video GradCAM", "video", lambda s: ours_method(s, "cam", "gradcam"),
                 lambda s: ref_cam(s, "GradCAM"), "layer", video=True),
            Case("video GradCAM++", "video", lambda s: ours_method(s, "cam", "gradcampp"),
                 lambda s: ref_cam(s, "GradCAMPlusPlus"), "layer", video=True)]
    return out + limit_cases(VIDEO_LAYER, video=True)


# ----------------------------------------------------------------------------- timing

def distinct_relus(model: nn.Module) -> nn.Module:
    """A traced copy of ``model`` in which every ReLU call has its own non-in-place module.

    Same weights and outputs; the caller's model is not touched. Needed by captum's DeepLift,
    which keeps per-module state and raises when one module is called twice.
    """
    traced = torch.fx.symbolic_trace(copy.deepcopy(model))
    uses: dict[str, int] = {}
    for node in traced.graph.nodes:
        if node.op == "call_module" and isinstance(traced.get_submodule(node.target), nn.ReLU):
            uses[node.target] = uses.get(node.target, 0) + 1
            if uses[node.target] > 1:
                name = f"{node.target}_{uses[node.target]}"
                traced.add_submodule(name, nn.ReLU())
                node.target = name
    for module in traced.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    traced.recompile()
    return traced.eval()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(run: Runner, x: torch.Tensor) -> float:
    synchronize(x.device)
    start = time.perf_counter()
    run(x)
    synchronize(x.device)
    return time.perf_counter() - start


@dataclasses.dataclass
class Result:
    case: Case
    device: str
    ours: float | str        # maps/s, or "skipped" / "error"
    ref: float | str
    of_limit: float | str    # ours / limit: median of paired per-round ratios (see measure)
    batch: int = 1
    layer: str = ""          # the CAM target layer of the row's model (names its layer limit)

    @property
    def limit(self) -> str:
        return "fwd+bwd to input" if self.case.limit == "input" else f"fwd+bwd to {self.layer}"


def measure(case: Case, s: Setting, x: torch.Tensor, args, problems: dict[str, None]) -> tuple[float | str, ...]:
    """Maps per second of ours, the reference and the case's limit, their calls interleaved round by
    round so that all three see the same machine load (a shared machine's load drifts between cases).

    Each call enters its side's context afresh (building the method and its hooks is not timed),
    so one side's hooks never slow the other down. A side that is skipped or raises drops out.
    Returns ours and reference maps/s ("-" where the case has no reference) and ours / limit: the
    median over rounds of (limit call time / our call time) within each round, so a burst of load
    from other jobs hits both halves of a ratio alike (1.0 for a limit row, its own limit).
    """
    sides = {"ours": case.ours}
    if case.ref is not None:
        sides["reference"] = case.ref
    if not case.limit_row:
        sides["limit"] = LIMIT_RUNNERS[case.limit]
    times: dict[str, list[float]] = {side: [] for side in sides}
    outcome: dict[str, str] = {}
    for i in range(args.warmup + args.repeats):
        for side, setup in sides.items():
            if side in outcome:
                continue
            try:
                with setup(s) as run:
                    t = seconds(run, x)
            except Skip as err:
                problems[f"skipped: {err}"] = None
                outcome[side] = "skipped"
            except Exception:  # reported after the table, and the exit status says so
                problems[f"error in {side} {case.label} ({x.device.type}):\n{traceback.format_exc()}"] = None
                outcome[side] = "error"
            else:
                if i >= args.warmup:
                    times[side].append(t)
    got = {side: outcome.get(side) or x.shape[0] / statistics.median(times[side]) for side in sides}
    if case.limit_row:
        return got["ours"], "-", 1.0 if isinstance(got["ours"], float) else "-"
    paired: float | str = "-"
    if isinstance(got["ours"], float) and isinstance(got["limit"], float):
        paired = statistics.median(t_limit / t_ours for t_limit, t_ours in zip(times["limit"], times["ours"]))
    return got["ours"], got.get("reference", "-"), paired


def video_setting(device: torch.device, batch: int) -> tuple[Setting, torch.Tensor]:
    """keras-resnet3d's 3D ResNet-18 (random init, one logit) and a batch of grey clips of VIDEO_CLIP.

    The target is the logit itself (class 0 of the one output) on both sides.
    """
    from xaibook.models.resnet3d import ResNet3D

    torch.manual_seed(0)
    model = ResNet3D(18, num_outputs=1, in_channels=1).eval().to(device)
    x = torch.rand(batch, 1, *VIDEO_CLIP, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        classes = model(x).argmax(1)
    return Setting(model, model.get_submodule(VIDEO_LAYER), VIDEO_LAYER, classes, model, video=True), x


def run_device(device: torch.device, selected: list[Case], args, problems: dict[str, None], batch: int
               ) -> list[Result]:
    results = []
    image_cases = [c for c in selected if not c.video]
    video = [c for c in selected if c.video]
    if image_cases:
        results += run_images(device, image_cases, args, problems, batch)
    if video:
        s, x = video_setting(device, batch)
        results += timed(video, s, x, args, problems, batch, device)
    return results


def timed(selected: list[Case], s: Setting, x: torch.Tensor, args, problems: dict[str, None], batch: int,
          device: torch.device) -> list[Result]:
    results = []
    for case in selected:
        start = time.perf_counter()
        ours, ref, limit = measure(case, s, x, args, problems)
        results.append(Result(case, device.type, ours, ref, limit, batch, s.layer_name))
        print(f"  {device.type}: {case.label} (batch {batch}) measured in {time.perf_counter() - start:.1f} s",
              file=sys.stderr, flush=True)
    return results


def run_images(device: torch.device, selected: list[Case], args, problems: dict[str, None], batch: int
               ) -> list[Result]:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=NUM_CLASSES).eval().to(device)
    x = torch.rand(batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)).to(device)
    layer = model.get_submodule(args.layer)
    with torch.no_grad():
        store: list[torch.Tensor] = []
        handle = layer.register_forward_hook(lambda _m, _i, out: store.append(out))
        try:
            classes = model(x).argmax(1)
        finally:
            handle.remove()
    flat = store[0].flatten(2)
    constant = int((flat.amax(2) == flat.amin(2)).sum())
    print(f"{device.type}: {args.layer} gives {flat.shape[1]} channels of {tuple(store[0].shape[2:])}; "
          f"{constant} of {flat.shape[0] * flat.shape[1]} (sample, channel) pairs are constant: our ScoreCAM "
          f"skips those, pytorch-grad-cam scores them")
    s = Setting(model, layer, args.layer, classes, distinct_relus(model))
    with torch.enable_grad():   # a few passes so the first timed method does not pay for allocation
        for _ in range(2):
            xx = x.clone().requires_grad_(True)
            torch.autograd.grad(model(xx).sum(), xx)
    return timed(selected, s, x, args, problems, batch, device)


# ----------------------------------------------------------------------------- report

def fmt(v: float | str) -> str:
    return f"{v:.2f}" if isinstance(v, float) else v


def ratio(a: float | str, b: float | str) -> str:
    return f"{a / b:.2f}" if isinstance(a, float) and isinstance(b, float) else "-"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def batching_rows(results: list[Result]) -> list[list[str]]:
    by = {(r.device, r.case.label): r for r in results if r.batch == 1}
    rows = []
    for r in results:
        label = r.case.label
        if r.batch != 1:
            continue
        if label.endswith(" batched"):
            base = by.get((r.device, label.replace(" batched", " unbatched")))
            name = label.replace(" batched", "") + ": batched / unbatched"
        elif label.startswith("ScoreCAM b=") and label != "ScoreCAM b=1":
            base = by.get((r.device, "ScoreCAM b=1"))
            name = f"{label} / ScoreCAM b=1"
        else:
            continue
        if base is not None:
            rows.append([name, ratio(r.ours, base.ours), ratio(r.ref, base.ref), r.device])
    return rows


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=None, help="input height = width (default 256, quick 32)")
    p.add_argument("--batch", default=None, help="images per call, comma-separated for several runs (default "
                                                 "1,32: one map at a time, as the paper timed, then batches of 32)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per method and side (default 10, quick 1)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 2, quick 1)")
    p.add_argument("--layer", default=None, choices=("layer1", "layer2", "layer3", "layer4"),
                   help="CAM target layer of the image model (default layer4, the last convolutional block; quick "
                        "layer1, whose 64 channels keep ScoreCAM's 64 masked forward passes per map affordable). "
                        f"The video rows always use the clip model's {VIDEO_LAYER}")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; quick: 1). On a machine shared with other "
                        "jobs, spinning intra-op threads can slow small calls tenfold; 1 thread avoids that")
    p.add_argument("--device", choices=("all", "cpu", "cuda"), default="all",
                   help="all: the CPU, and CUDA when available (default)")
    p.add_argument("--methods", default=",".join(FAMILIES), help=f"comma-separated subset of {','.join(FAMILIES)}")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: size 32, batch 1, CAM layer layer1, 1 thread, one warm-up and one timed call, "
                        "SmoothGrad with 10 samples only (2 on video), ScoreCAM with batch sizes 1 and 50 only. "
                        "Not for reporting.")
    args = p.parse_args(argv)
    quick = dict(size=32, batch="1", repeats=1, warmup=1, layer="layer1", threads=1)
    full = dict(size=256, batch="1,32", repeats=10, warmup=2, layer="layer4", threads=torch.get_num_threads())
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    try:
        args.batches = [int(b) for b in str(args.batch).split(",") if b.strip()]
    except ValueError:
        p.error(f"--batch takes comma-separated whole numbers, got {args.batch!r}")
    if not args.batches or min(args.batches) < 1:
        p.error(f"--batch sizes must be at least 1, got {args.batch!r}")
    for k in ("size", "repeats", "threads"):
        if getattr(args, k) < 1:
            p.error(f"--{k} must be at least 1, got {getattr(args, k)}")
    if args.warmup < 0:
        p.error(f"--warmup must be at least 0, got {args.warmup}")
    args.families = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(args.families) - set(FAMILIES))
    if unknown:
        p.error(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(FAMILIES)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available to this torch build")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    all_cases = (cases((10,), (1, 50), args.layer) + video_cases(2)) if args.quick else (
        cases(layer=args.layer) + video_cases())
    selected = [c for c in all_cases if c.family in args.families]
    if any(not c.video for c in selected):     # the image model's limits, when image methods are timed
        selected += [c for c in all_cases if c.family == "limit"]
    devices = [torch.device("cpu")] if args.device in ("all", "cpu") else []
    if args.device == "cuda" or (args.device == "all" and torch.cuda.is_available()):
        devices.append(torch.device("cuda"))

    from importlib.metadata import version

    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, captum {captum.__version__}, "
          f"grad-cam {version('grad-cam')}; python {platform.python_version()}; "
          f"{torch.get_num_threads()} CPU threads"
          + (f"; GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "; no GPU"))
    print(f"ResNet-18 (random init, {NUM_CLASSES} classes, eval), CAM layer {args.layer}; input {args.batch} x 3 x "
          f"{args.size} x {args.size}; video: ResNet3D-18 (random init, 1 logit), CAM layer {VIDEO_LAYER}, clips "
          f"{args.batch} x 1 x {' x '.join(map(str, VIDEO_CLIP))}; {args.warmup} warm-up + {args.repeats} timed "
          f"calls, median"
          + ("; --quick: smoke test, do not report these numbers" if args.quick else ""))

    problems: dict[str, None] = {}   # an ordered set of messages
    results = [r for d in devices for b in args.batches for r in run_device(d, selected, args, problems, b)]

    print()
    print(table(["method", "batch", "ours maps/s", "reference maps/s", "ratio ours/ref", "limit", "ours / limit",
                 "device"],
                [[r.case.label + (f" {r.case.note}" if r.case.note else ""), str(r.batch), fmt(r.ours), fmt(r.ref),
                  ratio(r.ours, r.ref), r.limit, fmt(r.of_limit), r.device] for r in results]))
    rows = batching_rows(results)
    if rows:
        print("\nSpeed-up from batching (throughput ratio)")
        print(table(["variant", "ours", "reference", "device"], rows))
    print("\nReferences: pytorch-grad-cam GradCAM, GradCAMPlusPlus, ScoreCAM (batch_size attribute); captum "
          "Saliency (abs=False), NoiseTunnel(Saliency) smoothgrad (nt_samples_batch_size), DeepLift.")
    print("Limits: fwd+bwd to input = forward + backward to the input (VanillaGrad's floor); fwd+bwd to <layer> = "
          "forward + backward stopped at the CAM target layer (Grad-CAM's and Grad-CAM++'s floor). Other "
          "methods are divided by the pass to the input as a unit, not a bound.")
    if any(r.case.note for r in results):
        print("* both sides on a traced copy of the model with one non-in-place ReLU module per call (same "
              "weights and outputs): captum's DeepLift raises on torchvision's reused ReLU modules; ours does "
              f"not need the copy. Blur reference: xaibook.saliency.gaussian_blur, sigma {BLUR_SIGMA} px, both sides.")
    errors = False
    for message in problems:
        errors |= message.startswith("error")
        print("\n" + message.rstrip())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
