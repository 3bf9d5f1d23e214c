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


def normalise_half(x):
    """A model's normalisation: mean 0.5, std 0.25 (pixel 0, black, becomes -2)."""
    return (x - 0.5) / 0.25


def test_masked_confidence_masks_to_black_in_pixel_space():
    # pixels 0.75 -> 1 after normalisation. Kept (map 1): 1 each; masked (map 0): black 0 -> -2 each.
    # logit_0 = 1 + 1 - 2 - 2 = -2. Masking the normalised image instead would give 1 + 1 + 0 + 0 = 2
    # (masked pixels at the mean colour).
    images = torch.full((1, 1, 2, 2), 0.75)
    maps = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    got = masked_confidence(Linear2(), images, maps, torch.tensor([0]), preprocess=normalise_half)
    torch.testing.assert_close(got, torch.sigmoid(torch.tensor([-2.0])))


def test_masked_confidence_refuses_normalised_images():
    images = normalise_half(torch.full((1, 1, 2, 2), 0.75))  # 1.0 everywhere, and -2 for black
    images[0, 0, 0, 0] = -2.0
    with pytest.raises(ValueError, match="pixel space"):
        masked_confidence(Linear2(), images, torch.ones(1, 2, 2), torch.tensor([0]))


def test_masked_confidence_is_chapter_05s_soft_mask_step_bit_for_bit():
    # chapter 05 (soft_mask_metrics) used softmax(clf, images01 * maps[:, None]); masked_confidence with
    # the classifier's normalisation as preprocess and batches of 32 must give the same numbers
    from types import SimpleNamespace

    from xaibook.featurecam.experiment import softmax, to_model

    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)).eval()
    clf = SimpleNamespace(model=model, spec=SimpleNamespace(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)))
    images01, maps = torch.rand(40, 3, 9, 9, generator=g), torch.rand(40, 9, 9, generator=g)
    classes = torch.randint(0, 5, (40,), generator=g)
    old = softmax(clf, images01 * maps[:, None]).gather(1, classes[:, None])[:, 0]
    new = masked_confidence(model, images01, maps, classes, preprocess=lambda x: to_model(clf, x), batch_size=32)
    assert torch.equal(new, old)


def test_masked_confidence_takes_black_and_white_pixels_and_batches_of_one():
    # the range check is inclusive: 0 (black) and 1 (white) are pixels, maps of exactly 0 and 1 are maps;
    # a batch of one image at a time gives the same numbers as one batch
    images = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]], [[[1.0, 1.0], [0.0, 0.0]]]])
    maps = torch.tensor([[[1.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]])
    got = masked_confidence(Linear2(), images, maps, torch.tensor([0, 1]), batch_size=1)
    want = torch.tensor([torch.sigmoid(torch.tensor(2.0)), 1 - torch.sigmoid(torch.tensor(1.0))])
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        masked_confidence(Linear2(), images, maps * 1.5, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="pixel space"):
        masked_confidence(Linear2(), images * 1.5, maps, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="batch_size"):
        masked_confidence(Linear2(), images, maps, torch.tensor([0, 1]), batch_size=0)


def test_confidences_are_checked_at_their_edges():
    # a confidence of exactly 1 is a probability; one of 0 before masking leaves the drop undefined
    torch.testing.assert_close(average_drop(torch.tensor([1.0, 0.5]), torch.tensor([0.25, 1.0])),
                               torch.tensor([75.0, 0.0]))
    with pytest.raises(ValueError, match="before masking is 0"):
        average_drop(torch.tensor([0.0, 0.5]), torch.tensor([0.0, 0.5]))
    with pytest.raises(ValueError, match="one shape"):  # two (N,) vectors of different N
        average_drop(torch.tensor([0.9, 0.5, 0.2]), torch.tensor([0.45, 0.6]))
    with pytest.raises(ValueError, match="one shape"):
        increase_in_confidence(torch.full((2, 2), 0.5), torch.full((2, 2), 0.5))
