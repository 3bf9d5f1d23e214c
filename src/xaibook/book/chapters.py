"""The chapter registry: one entry per paper, in book order (STYLE 3)."""
from __future__ import annotations

from dataclasses import dataclass

from ..registry import Registry


@dataclass(frozen=True)
class Chapter:
    """A chapter of the book. A ``draft`` is paired and tested like the others but is left out of
    the default build, the test run's execution and the table of contents until it is ready;
    ``make book CHAPTERS=<id>`` still runs it. ``fast_data`` is the data the fast profile runs on,
    the data its bands are derived and checked for: a synthetic stand-in, or real data that ships
    with the installed packages (chapter 05's photographs)."""

    id: str
    title: str
    paper: str
    draft: bool = False
    fast_data: str = "synthetic"     # what the fast profile runs on ("real" when real data ships offline)
    short: str = ""                  # the chapter's name in tables, e.g. "01 Foam"


CHAPTERS: Registry[Chapter] = Registry("chapter")


def _add(chapter: Chapter) -> Chapter:
    return CHAPTERS.add(chapter.id, chapter)


_add(Chapter("01_foam", "Foam in bioreactors: ResNet-18 and GradCAM++",
             "Austerjost et al. 2021, SLAS Technology 26(4):408-414", short="01 Foam"))
_add(Chapter("02_cauliflower", "Cauliflower harvest readiness: reliability scores from clusters of saliency maps",
             "Kierdorf & Roscher 2023, arXiv:2305.15149", short="02 Cauliflower"))
_add(Chapter("03_lung_sliding", "Lung sliding in ultrasound video: 3D ResNets, an M-mode baseline, saliency through time",
             "Kolarik, Sarnovsky & Paralic, 3D CNNs and explainability for lung sliding in ultrasound video", short="03 Lung sliding"))
_add(Chapter("04_steel_defects", "Steel defects: seven saliency methods and the distance pointing game",
             "Lorentz et al. 2021, IEA/AIE 2021, LNCS 12799", short="04 Steel defects"))


_add(Chapter("05_feature_cam", "Feature CAM: Grad-CAMs fused with HED edges, on real networks and photographs",
             "Clement, Yang & Cheng, Feature CAM: interpretability in image classification with improved visual "
             "attention", fast_data="real", short="05 Feature CAM"))


def ready() -> list[str]:
    """Ids of the chapters that are not drafts, in book order."""
    return [c for c in CHAPTERS.names() if not CHAPTERS.get(c).draft]
