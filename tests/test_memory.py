"""Peak-memory estimates and the pass meter (xaibook.saliency.memory), on tiny networks whose
activation, parameter and saved-tensor bytes are counted by hand."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from xaibook.saliency import PeakEstimate, estimate_peak, pass_meter
from xaibook.saliency.memory import GIB, activation_bytes, parameter_bytes


def mlp(inplace: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=inplace), nn.Linear(8, 2))


# float32 throughout: 4 bytes a value
# parameters: 4 x 8 + 8 and 8 x 2 + 2 = 58 values = 232 bytes
# activations of one input: the input 4, Linear 8, ReLU 8, Linear 2 = 22 values = 88 bytes


def test_parameter_and_activation_bytes_by_hand():
    net = mlp()
    assert parameter_bytes(net) == 232
    assert activation_bytes(net, torch.randn(10, 4)) == 88             # only the first input counts
    # an in-place ReLU writes into the Linear's output: the same storage counts once, 4 + 8 + 2 values
    assert activation_bytes(mlp(inplace=True), torch.randn(1, 4)) == 56
    # Flatten's output is a view of the pool's: input 25 + conv 2 x 25 + pool 2 = 77 values
    conv = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(5), nn.Flatten())
    assert activation_bytes(conv, torch.randn(3, 1, 5, 5)) == 308


def test_estimate_by_hand():
    net = mlp()
    est = estimate_peak(net, (4,), train_batch=10, saliency_batch=5)
    # training: weights 232 + gradients 232 + Adam's two moments 464 + 10 inputs x 88
    assert est.training == 232 + 232 + 464 + 880
    # saliency: weights 232 + 5 inputs x 88
    assert est.saliency == 232 + 440
    assert (est.train_batch, est.saliency_batch) == (10, 5)
    assert estimate_peak(net, (4,), train_batch=10, optimiser="sgd").training == 232 + 232 + 880
    # frozen first layer: gradients and moments only for the second layer's 18 values (72 bytes)
    net[0].requires_grad_(False)
    assert estimate_peak(net, (4,), train_batch=10).training == 232 + 72 + 144 + 880
    assert estimate_peak(net, (4,), saliency_batch=5).training is None


def test_the_printed_line():
    est = PeakEstimate("estimated from activation sizes", round(3.2 * GIB), 32, round(1.1 * GIB), 16)
    assert str(est) == ("peak per step (estimated from activation sizes): training 3.2 GiB at batch 32; "
                        "saliency 1.1 GiB at 16 inputs per pass")
    small = estimate_peak(mlp(), (4,), saliency_batch=5)
    assert str(small) == "peak per step (estimated from activation sizes): saliency 672 B at 5 inputs per pass"


def test_estimate_leaves_the_model_as_it_was():
    net = mlp()
    net.train()
    net[0].eval()
    flags = [m.training for m in net.modules()]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    estimate_peak(net, (4,), train_batch=4, saliency_batch=4)
    assert [m.training for m in net.modules()] == flags
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_bad_arguments_name_the_parameter():
    net = mlp()
    with pytest.raises(ValueError, match="optimiser must be one of"):
        estimate_peak(net, (4,), train_batch=2, optimiser="lbfgs")
    with pytest.raises(ValueError, match="nothing to estimate"):
        estimate_peak(net, (4,))
    with pytest.raises(ValueError, match="saliency_batch must be None or at least 1"):
        estimate_peak(net, (4,), saliency_batch=0)
    with pytest.raises(ValueError, match="no trainable parameter"):
        estimate_peak(mlp().requires_grad_(False), (4,), train_batch=2)
    with pytest.raises(ValueError, match="needs the model on a CUDA device"):
        estimate_peak(net, (4,), saliency_batch=2, measure=True)


def test_pass_meter_by_hand():
    # a gradient pass at batch b saves: the input (4b values) and the first weight (32) for the first
    # Linear, the ReLU's output (8b; the second Linear saves the same tensor), the second weight (16):
    # 4 (12 b + 48) = 48 b + 192 bytes
    net = mlp()
    for b in (3, 6):
        x = torch.randn(b, 4, requires_grad=True)
        with pass_meter(net) as meter:
            torch.autograd.grad(net(x)[:, 0].sum(), x)
        assert (meter.largest_batch, meter.passes, meter.peak_saved_bytes) == (b, 1, 48 * b + 192)
    with pass_meter(net) as meter, torch.no_grad():
        net(torch.randn(5, 4))
    assert (meter.largest_batch, meter.peak_saved_bytes) == (5, 0)       # nothing saved without a graph
    assert not net._forward_hooks and not net._forward_pre_hooks


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_measurement_agrees_with_the_estimate_in_size():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)).cuda()
    measured = estimate_peak(net, (3, 64, 64), train_batch=32, saliency_batch=32)
    estimated = estimate_peak(net, (3, 64, 64), train_batch=32, saliency_batch=32, measure=False)
    assert measured.how.startswith("measured on cuda")
    for a, b in ((measured.training, estimated.training), (measured.saliency, estimated.saliency)):
        assert 0.33 < a / b < 3
    assert all(p.grad is None for p in net.parameters())


def test_every_torch_cuda_function_the_code_calls_exists():
    """The CUDA paths run only on a GPU, so a misspelt torch.cuda name passes every CPU test: on 2026-12-04
    torch.cuda's ``reset_peak_stats`` (torch has ``reset_peak_memory_stats``) crashed every chapter's paper
    profile at its first cell on an H200. This reads every ``torch.cuda.<name>`` in the package, the
    benchmarks and the tests, and checks that torch has it."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    used: dict[str, set[str]] = {}
    for folder in ("src", "benchmarks", "scripts", "tests"):
        for path in (root / folder).rglob("*.py"):
            for name in re.findall(r"\btorch\.cuda\.([A-Za-z_][A-Za-z0-9_]*)", path.read_text()):
                used.setdefault(name, set()).add(str(path.relative_to(root)))
    assert {"synchronize", "memory_allocated", "max_memory_allocated"} <= set(used)   # the scan reads the code
    missing = {n: sorted(p) for n, p in used.items() if not hasattr(torch.cuda, n)}
    assert not missing, f"torch {torch.__version__} has no torch.cuda.{', '.join(missing)}: {missing}"
