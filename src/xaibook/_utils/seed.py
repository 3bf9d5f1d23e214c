"""Determinism: same seed, same numbers on CPU."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, *, threads: int | None = None) -> torch.Generator:
    """Seed Python, NumPy and torch, make torch deterministic and fix the CPU thread count.

    The thread count is fixed because the order of floating-point reductions on CPU depends on
    it: two threads (the CI machine's cores) unless a kernel path set ``XAIBOOK_THREADS``
    (see :mod:`xaibook.kernels`). Returns a ``torch.Generator`` seeded with ``seed`` for data
    order and augmentation.
    """
    from ..kernels import threads_from_env

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    threads = threads_from_env() if threads is None else threads
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.set_num_threads(threads)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen
