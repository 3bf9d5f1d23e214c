"""Kernel paths: the environment a run's notebook process gets, and what a results file records."""
from __future__ import annotations

import os

import pytest

from xaibook.kernels import KERNEL_PATHS, describe_cpu, kernel_environment, threads_from_env


def test_kernel_environment_sets_and_restores_the_variables(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    with kernel_environment("avx2") as path:
        assert path.threads == 2
        assert os.environ["ATEN_CPU_CAPABILITY"] == "avx2" and os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX2"
        assert os.environ["XAIBOOK_THREADS"] == "2" and os.environ["XAIBOOK_KERNEL_PATH"] == "avx2"
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX512_CORE" and "ATEN_CPU_CAPABILITY" not in os.environ
    with pytest.raises(RuntimeError), kernel_environment("native-1thread"):
        assert os.environ["XAIBOOK_THREADS"] == "1" and "ONEDNN_MAX_CPU_ISA" not in os.environ
        raise RuntimeError("the run failed")
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX512_CORE" and "XAIBOOK_THREADS" not in os.environ


def test_unknown_kernel_path_is_named():
    with pytest.raises(KeyError, match="unknown kernel path 'avx9'; known: avx2, native, native-1thread"):
        with kernel_environment("avx9"):
            pass
    assert set(KERNEL_PATHS.names()) == {"native", "avx2", "native-1thread"}


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.delenv("XAIBOOK_THREADS", raising=False)
    assert threads_from_env() == 2
    monkeypatch.setenv("XAIBOOK_THREADS", "1")
    assert threads_from_env() == 1
    monkeypatch.setenv("XAIBOOK_THREADS", "two")
    with pytest.raises(ValueError, match="XAIBOOK_THREADS"):
        threads_from_env()


def test_provenance_names_cpu_capability_threads_and_blas_without_paths():
    info = describe_cpu()
    assert {"cpu", "capability", "onednn_isa", "threads", "blas", "kernel_path"} == set(info)
    assert isinstance(info["capability"], str) and info["capability"] and info["threads"] >= 1
    assert "torch:" in info["blas"] and "/" not in info["blas"]
