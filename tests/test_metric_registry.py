"""Every registered metric: invariances and bad input (parametrised over the registry), and known
answers for the explanation-map metrics of Chattopadhay et al. 2018."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from xaibook.metrics import METRICS, average_drop, increase_in_confidence, masked_confidence


def _map_mask_inputs():
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(4, 6, 5, generator=g)
    masks = torch.zeros(4, 6, 5, dtype=torch.bool)
    masks[:, 1:3, 2:4] = True
    return maps, masks


def _confidence_inputs():
    return torch.tensor([0.9, 0.5, 0.2, 0.7]), torch.tensor([0.45, 0.6, 0.2, 0.0])


def inputs(kind: str):
    return _map_mask_inputs() if kind == "map-mask" else _confidence_inputs()


@pytest.mark.parametrize("key", METRICS.names())
class TestEveryMetric:
    def test_batch_of_one_gives_the_same_value(self, key):
        m = METRICS.get(key)
        a, b = inputs(m.kind)
        whole = m(a, b)
        single = torch.cat([m(a[i:i + 1], b[i:i + 1]) for i in range(len(a))])
        assert whole.shape == (len(a),)
        torch.testing.assert_close(whole, single)

    def test_inputs_are_left_as_they_were(self, key):
        m = METRICS.get(key)
        a, b = inputs(m.kind)
        a0, b0 = a.clone(), b.clone()
        m(a, b)
        assert torch.equal(a, a0) and torch.equal(b, b0)

    def test_nan_is_refused(self, key):
        m = METRICS.get(key)
        a, b = inputs(m.kind)
        a = a.clone().float()
        a.view(-1)[1] = float("nan")
        with pytest.raises(ValueError, match="NaN"):
            m(a, b)

    def test_metadata(self, key):
        m = METRICS.get(key)
        assert m.name and m.paper and m.kind in ("map-mask", "confidence") and m.aggregate in ("mean", "nanmedian")


@pytest.mark.parametrize("key", [k for k in METRICS.names() if METRICS.get(k).kind == "map-mask"])
def test_map_mask_metrics_ignore_a_positive_scale_and_reward_the_mask_itself(key):
    m = METRICS.get(key)
    maps, masks = _map_mask_inputs()
    torch.testing.assert_close(m(3.5 * maps, masks), m(maps, masks))
    perfect = m(masks.float(), masks)
    torch.testing.assert_close(perfect, torch.ones(4))
    assert (m(maps, masks) < 1).all()


def test_average_drop_and_increase_by_hand():
    before, after = _confidence_inputs()
    # drops: 0.45/0.9 = 50%, none (rose), none (equal), 100%
    torch.testing.assert_close(average_drop(before, after), torch.tensor([50.0, 0.0, 0.0, 100.0]))
    torch.testing.assert_close(increase_in_confidence(before, after), torch.tensor([0.0, 100.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="probabilities"):
        average_drop(before * 2, after)


class Linear2(nn.Module):
    """logits = (sum of the first channel, 0): the masked confidence has a closed form."""

    def forward(self, x):
        s = x[:, 0].flatten(1).sum(1)
        return torch.stack([s, torch.zeros_like(s)], 1)


def test_masked_confidence_by_hand():
    images = torch.ones(2, 2, 2, 2)
    maps = torch.tensor([[[1.0, 1.0], [0.0, 0.0]], [[0.5, 0.0], [0.0, 0.0]]])
    got = masked_confidence(Linear2(), images, maps, torch.tensor([0, 1]))
    want = torch.tensor([torch.sigmoid(torch.tensor(2.0)), 1 - torch.sigmoid(torch.tensor(0.5))])
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        masked_confidence(Linear2(), images, maps * 3, torch.tensor([0, 1]))
