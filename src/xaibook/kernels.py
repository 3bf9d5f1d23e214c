"""CPU kernel paths: which floating-point kernels a run used, and how to choose them.

The same seed gives bit-identical numbers run after run on one machine, but a different CPU
takes other kernels (instruction set, thread count, BLAS), which changes the order of
floating-point reductions and so the whole training trajectory. The fast profile's bands are
therefore derived over several seeds *and* several kernel paths (``make bands``), and every
results file records the path it ran on.

Measured on a 2-core AMD EPYC with AVX-512 (torch 2.13, oneDNN 3.12, five Adam steps of a
ResNet-18 on 64-px images, weights hashed): the thread count (1 vs 2), oneDNN's instruction set
(``ONEDNN_MAX_CPU_ISA``), ATen's fallback to the baseline kernels, and MKL's reproducibility mode
(``MKL_CBWR``) each change the weights; ``ATEN_CPU_CAPABILITY=avx2`` alone does not (convolutions
and matrix products go through oneDNN and MKL). A path that pins oneDNN and ATen to AVX2 is what
an AVX2-only CPU (most laptops, older servers, many CI machines) runs.
"""
from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .registry import Registry

#: environment variables a kernel path may set (all restored afterwards)
_ENV_KEYS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "XAIBOOK_THREADS", "XAIBOOK_KERNEL_PATH")
DEFAULT_THREADS = 2       # the CI machine's core count; seed_everything fixes torch to it


@dataclass(frozen=True)
class KernelPath:
    """A choice of CPU kernels for a run: environment variables read at start-up, and a thread count."""

    name: str
    description: str
    env: dict[str, str] = field(default_factory=dict)
    threads: int = DEFAULT_THREADS


KERNEL_PATHS: Registry[KernelPath] = Registry("kernel path")


def _add(path: KernelPath) -> KernelPath:
    return KERNEL_PATHS.add(path.name, path)


_add(KernelPath("native", "the machine's own instruction set, 2 threads"))
_add(KernelPath("avx2", "oneDNN and ATen pinned to AVX2 (what an AVX2-only CPU runs), 2 threads",
                {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}))
_add(KernelPath("native-1thread", "the machine's own instruction set, 1 thread", threads=1))


def threads_from_env(default: int = DEFAULT_THREADS) -> int:
    """The torch thread count a run should use: ``XAIBOOK_THREADS`` when a kernel path set it."""
    raw = os.environ.get("XAIBOOK_THREADS")
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"XAIBOOK_THREADS must be a positive integer, got {raw!r}")
    return int(raw)


@contextlib.contextmanager
def kernel_environment(name: str) -> Iterator[KernelPath]:
    """Set a kernel path's variables for the processes started inside (papermill's kernels).

    The variables are read when torch is imported, so they act on new processes only; this
    process's own torch is unaffected. Everything is restored on exit, even after an error.
    """
    path = KERNEL_PATHS.get(name)
    saved = {k: os.environ.get(k) for k in _ENV_KEYS}
    try:
        for k in _ENV_KEYS:
            os.environ.pop(k, None)
        os.environ.update(path.env)
        os.environ["XAIBOOK_THREADS"] = str(path.threads)
        os.environ["XAIBOOK_KERNEL_PATH"] = path.name
        yield path
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def blas_in_use() -> str:
    """The BLAS libraries torch and numpy run on, with versions (no file paths)."""
    import torch
    from threadpoolctl import threadpool_info

    cfg = torch.__config__.show()
    torch_blas = next((part.split("=", 1)[1] for part in cfg.replace(",", " ").split()
                       if part.startswith("BLAS_INFO=")), "unknown")
    numpy_blas = sorted({f"{i['internal_api']} {i.get('version') or ''} ({i.get('architecture') or '?'})".strip()
                         for i in threadpool_info() if i.get("user_api") == "blas"})
    return f"torch: {torch_blas}; numpy: {', '.join(numpy_blas) or 'none found'}"


def describe_cpu() -> dict[str, object]:
    """What decides the kernels of this process: CPU model, torch's capability, threads, BLAS, path."""
    import torch

    return {"cpu": cpu_model(), "capability": torch.backends.cpu.get_cpu_capability(),
            "onednn_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "native"), "threads": torch.get_num_threads(),
            "blas": blas_in_use(), "kernel_path": os.environ.get("XAIBOOK_KERNEL_PATH", "native")}
