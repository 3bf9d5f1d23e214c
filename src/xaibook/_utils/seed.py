"""Determinism: same seed, same numbers on CPU."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, *, threads: int | None = 2) -> torch.Generator:
    """Seed Python, NumPy and torch, make torch deterministic and fix the CPU thread count.

    The thread count is fixed because the order of floating-point reductions on CPU depends on
    it; the fast profile's bands were derived with two threads (the CI machine has two cores).
    Returns a ``torch.Generator`` seeded with ``seed`` for data order and augmentation.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    if threads is not None:
        torch.set_num_threads(threads)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen
