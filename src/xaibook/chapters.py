"""The chapter registry: one entry per paper, in book order (STYLE 3)."""
from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry


@dataclass(frozen=True)
class Chapter:
    id: str
    title: str
    paper: str


CHAPTERS: Registry[Chapter] = Registry("chapter")


def _add(chapter: Chapter) -> Chapter:
    return CHAPTERS.add(chapter.id, chapter)


_add(Chapter("01_foam", "Foam in bioreactors: ResNet-18 and GradCAM++",
             "Austerjost et al. 2021, SLAS Technology 26(4):408-414"))
