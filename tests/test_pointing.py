"""Known answers for the energy and distance pointing games (Lorentz et al. 2021, Sect. 4.1).

Grids are chosen so the normalising diagonal is a whole number: a 3 x 4 image has diagonal 5,
6 x 8 has 10, and a 2 x 3 x 6 video has sqrt(4 + 9 + 36) = 7.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xaibook.metrics import (constructed_example, distance_mask, distance_pointing_game, energy_inside,
                             energy_pointing_game, pointing_game_parts)


def pixel_mask(shape, *where):
    m = torch.zeros(1, *shape, dtype=torch.bool)
    for idx in where:
        m[(0, *idx)] = True
    return m


def score(fn, maps, masks) -> float:
    return float(fn(maps, masks)[0])


class TestDistanceMask:
    def test_single_pixel_by_hand(self):
        d = distance_mask(pixel_mask((3, 4), (0, 0)))[0]
        # distances to (0, 0) divided by the diagonal sqrt(3^2 + 4^2) = 5
        torch.testing.assert_close(d[0], torch.tensor([0, 1, 2, 3], dtype=torch.float64) / 5)
        assert float(d[1, 1]) == pytest.approx(math.sqrt(2) / 5)
        assert float(d[2, 3]) == pytest.approx(math.sqrt(13) / 5)
        assert float(d.max()) < 1

    def test_matches_brute_force_for_images_and_video(self):
        # an independent implementation: the minimum over all defect pixels of the Euclidean distance
        g = torch.Generator().manual_seed(0)
        for shape in [(2, 7, 9), (2, 3, 5, 6)]:
            masks = torch.rand(shape, generator=g) > 0.9
            masks[:, (0,) * (len(shape) - 1)] = True  # never empty
            d = distance_mask(masks)
            grid = torch.stack(torch.meshgrid(*[torch.arange(s) for s in shape[1:]], indexing="ij"), -1)
            points = grid.reshape(-1, len(shape) - 1).double()
            for i in range(shape[0]):
                brute = torch.cdist(points, points[masks[i].reshape(-1)]).min(1).values
                torch.testing.assert_close(d[i].reshape(-1), brute / math.hypot(*shape[1:]))

    def test_empty_mask_is_nan(self):
        assert torch.isnan(distance_mask(torch.zeros(1, 3, 4, dtype=torch.bool))).all()


class TestDistancePointingGame:
    def test_single_pixel_defect_mass_at_known_distances(self):
        masks = pixel_mask((3, 4), (0, 0))
        s = torch.zeros(1, 3, 4)
        s[0, 0, 0] = 1.0  # inside
        s[0, 0, 3] = 1.0  # distance 3 -> 3/5
        s[0, 2, 0] = 0.5  # distance 2 -> 2/5
        # inside 1, outside 1 * 0.6 + 0.5 * 0.4 = 0.8: D = 1 / 1.8 = 5/9; E = 1 / 2.5
        assert score(distance_pointing_game, s, masks) == pytest.approx(5 / 9)
        assert score(energy_pointing_game, s, masks) == pytest.approx(0.4)

    def test_uniform_map(self):
        masks = torch.zeros(1, 3, 4, dtype=torch.bool)
        masks[0, :, 0] = True  # defect: the first column, so each row has distances 0, 1, 2, 3
        s = torch.ones(1, 3, 4)
        # inside 3, outside 3 * (1 + 2 + 3) / 5 = 18/5: D = 3 / (3 + 3.6) = 5/11; E = 3/12
        assert score(distance_pointing_game, s, masks) == pytest.approx(5 / 11)
        assert score(energy_pointing_game, s, masks) == pytest.approx(1 / 4)

    def test_video(self):
        masks = pixel_mask((2, 3, 6), (0, 0, 0))
        s = torch.zeros(1, 2, 3, 6)
        s[0, 0, 0, 0] = 1.0  # inside
        s[0, 1, 0, 0] = 1.0  # next frame: distance 1 -> 1/7
        s[0, 0, 0, 3] = 1.0  # same frame: distance 3 -> 3/7
        # inside 1, outside 4/7: D = 7/11; E = 1/3
        assert float(distance_mask(masks)[0, 1, 0, 0]) == pytest.approx(1 / 7)
        assert score(distance_pointing_game, s, masks) == pytest.approx(7 / 11)
        assert score(energy_pointing_game, s, masks) == pytest.approx(1 / 3)

    def test_map_entirely_inside_scores_one(self):
        masks = torch.zeros(1, 4, 4, dtype=torch.bool)
        masks[0, 1:3, 1:3] = True
        s = 0.3 * masks.float()
        assert score(distance_pointing_game, s, masks) == pytest.approx(1.0)
        assert score(energy_pointing_game, s, masks) == pytest.approx(1.0)

    def test_all_zero_map_scores_zero(self):
        masks = pixel_mask((3, 4), (1, 1))
        assert score(distance_pointing_game, torch.zeros(1, 3, 4), masks) == 0.0
        assert score(energy_pointing_game, torch.zeros(1, 3, 4), masks) == 0.0

    def test_empty_mask_is_nan_never_a_hit(self):
        # Quantus' PointingGame counts an empty mask as a hit; here it is undefined, in both games
        masks = torch.zeros(2, 3, 4, dtype=torch.bool)
        masks[1, 0, 0] = True
        s = torch.ones(2, 3, 4)
        for fn in (distance_pointing_game, energy_pointing_game):
            r = fn(s, masks)
            assert math.isnan(float(r[0])) and not math.isnan(float(r[1]))
        # energy_inside itself keeps returning 0 for an empty mask
        assert float(energy_inside(s, masks)[0]) == 0.0

    def test_mass_only_outside_scores_zero_however_close(self):
        masks = pixel_mask((3, 4), (0, 0))
        s = torch.zeros(1, 3, 4)
        s[0, 0, 1] = 1.0  # right next to the defect, but nothing inside: 0 / (0 + 0.2)
        assert score(distance_pointing_game, s, masks) == 0.0

    def test_moving_mass_farther_lowers_the_score(self):
        masks = pixel_mask((6, 8), (0, 0))  # diagonal 10
        scores = []
        for k in range(1, 8):
            s = torch.zeros(1, 6, 8)
            s[0, 0, 0] = 1.0
            s[0, 0, k] = 1.0  # distance k -> k/10: D = 1 / (1 + k/10)
            scores.append(score(distance_pointing_game, s, masks))
            assert scores[-1] == pytest.approx(10 / (10 + k))
        assert all(a > b for a, b in zip(scores, scores[1:]))

    def test_energy_game_cannot_tell_near_from_far_distance_game_can(self):
        masks = pixel_mask((6, 8), (0, 0)).expand(2, 6, 8)
        s = torch.zeros(2, 6, 8)
        s[:, 0, 0] = 1.0
        s[0, 0, 1] = 1.0  # near: distance 1/10
        s[1, 5, 7] = 1.0  # far: distance sqrt(74)/10, the farthest pixel
        energy = energy_pointing_game(s, masks)
        distance = distance_pointing_game(s, masks)
        torch.testing.assert_close(energy, torch.tensor([0.5, 0.5]))
        torch.testing.assert_close(distance, torch.tensor([10 / 11, 10 / (10 + math.sqrt(74))]))

    def test_never_below_the_energy_game_and_invariant_to_scale(self):
        g = torch.Generator().manual_seed(1)
        s = torch.rand(8, 9, 11, generator=g)
        masks = torch.rand(8, 9, 11, generator=g) > 0.8
        d = distance_pointing_game(s, masks)
        assert (d >= energy_pointing_game(s, masks)).all()
        torch.testing.assert_close(distance_pointing_game(7 * s, masks), d)

    def test_negative_values_are_clipped(self):
        masks = pixel_mask((3, 4), (0, 0))
        s = torch.zeros(1, 3, 4)
        s[0, 0, 0] = 1.0
        s[0, 2, 3] = -5.0
        assert score(distance_pointing_game, s, masks) == pytest.approx(1.0)

    def test_zero_one_masks_equal_boolean_masks(self):
        masks = pixel_mask((3, 4), (1, 2))
        s = torch.rand(1, 3, 4, generator=torch.Generator().manual_seed(2))
        assert score(distance_pointing_game, s, masks.float()) == score(distance_pointing_game, s, masks)

    @pytest.mark.parametrize("fn", [distance_pointing_game, energy_pointing_game])
    def test_bad_input_is_refused(self, fn):
        masks = pixel_mask((3, 4), (0, 0))
        with pytest.raises(ValueError, match="differ in shape"):
            fn(torch.zeros(1, 4, 3), masks)
        with pytest.raises(ValueError, match="NaN"):
            fn(torch.full((1, 3, 4), math.nan), masks)
        with pytest.raises(ValueError, match="only 0 and 1"):
            fn(torch.zeros(1, 3, 4), 0.5 * masks.float())


def test_parts_of_the_constructed_example():
    saliency, mask = constructed_example((32, 48))
    p = pointing_game_parts(saliency, mask)
    np.testing.assert_allclose(p.inside, p.mask * p.saliency)
    np.testing.assert_allclose(p.outside, p.distance * p.saliency)
    assert (p.distance[p.mask == 1] == 0).all() and (p.distance[p.mask == 0] > 0).all()
    assert p.distance_score == pytest.approx(p.inside.sum() / (p.inside.sum() + p.outside.sum()), rel=1e-6)
    assert p.distance_score == pytest.approx(score(distance_pointing_game, saliency[None], mask[None]))
    # the strong blob straddles the defect: near mass is charged little, so D clearly exceeds E
    assert 0 < p.energy_score < p.distance_score < 1


def test_precomputed_distances_are_the_scaled_euclidean_distances():
    from xaibook.metrics import distance_mask
    # one defect pixel at (0, 0) of a 3 x 4 image: d = |p| / sqrt(3^2 + 4^2) = |p| / 5
    mask = torch.zeros(1, 3, 4, dtype=torch.bool)
    mask[0, 0, 0] = True
    d = distance_mask(mask)[0]
    assert float(d[0, 0]) == 0 and float(d[0, 3]) == pytest.approx(3 / 5) and float(d[2, 3]) == pytest.approx(13 ** 0.5 / 5)
    # a map with 1 on the defect and 1 at (2, 3): D = 1 / (1 + sqrt(13) / 5); precomputed d gives the same
    sal = torch.zeros(1, 3, 4)
    sal[0, 0, 0] = sal[0, 2, 3] = 1.0
    want = 1 / (1 + 13 ** 0.5 / 5)
    assert float(distance_pointing_game(sal, mask)[0]) == pytest.approx(want, rel=1e-6)
    assert float(distance_pointing_game(sal, mask, d[None])[0]) == pytest.approx(want, rel=1e-6)


def test_both_games_clip_negative_saliency_the_same_way():
    """Negative values are clipped to zero in both games (the ReLU of Eq. 1), not counted by magnitude: a map
    of 1 on the defect and -3 far from it scores 1 in both; with +3 there the energy game gives 1/4 and the
    distance game 1 / (1 + 3 * 3/5) = 5/14 (distance 3 on a 3 x 4 grid, diagonal 5)."""
    masks = pixel_mask((3, 4), (0, 0))
    s = torch.zeros(1, 3, 4)
    s[0, 0, 0] = 1.0
    s[0, 0, 3] = -3.0
    assert score(energy_pointing_game, s, masks) == pytest.approx(1.0)
    assert score(distance_pointing_game, s, masks) == pytest.approx(1.0)
    s[0, 0, 3] = 3.0
    assert score(energy_pointing_game, s, masks) == pytest.approx(1 / 4)
    assert score(distance_pointing_game, s, masks) == pytest.approx(5 / 14)


def test_the_constructed_example_is_the_one_its_docstring_draws():
    # Fig. 4 in the spirit of Lorentz et al.: a band on rows [3H/8, 5H/8) and columns [W/4, W/2); a strong
    # Gaussian (sigma H/8) centred on (H/2, W/2), the band's right end, and a half-height one (sigma H/12)
    # in the far corner at (H/6, 0.85 W); the sum scaled to a maximum of 1
    h, w = 64, 96
    saliency, mask = constructed_example((h, w))
    assert mask.dtype == torch.bool
    rows, cols = torch.nonzero(mask, as_tuple=True)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (24, 39, 24, 47)
    assert int(mask.sum()) == 16 * 24
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    want = (np.exp(-((yy - 32) ** 2 + (xx - 48) ** 2) / (2 * 8.0**2))
            + 0.5 * np.exp(-((yy - h / 6) ** 2 + (xx - 0.85 * w) ** 2) / (2 * (h / 12) ** 2)))
    np.testing.assert_allclose(saliency.numpy(), want / want.max(), atol=1e-6)
    assert tuple(np.unravel_index(int(saliency.argmax()), (h, w))) == (32, 48)
