"""The training loop's sampling, augmentation and schedule (xaibook.training), by hand."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from xaibook.training import TrainConfig, augment, epoch_order, fit


def test_epoch_order_without_repeats_is_a_permutation():
    g = torch.Generator().manual_seed(0)
    order = epoch_order(torch.tensor([0, 1, 1, 0, 1]), None, g)
    assert sorted(order.tolist()) == [0, 1, 2, 3, 4]


def test_class_repeats_draw_each_class_as_often_as_asked():
    labels = torch.tensor([0] * 10 + [1] * 20)
    order = epoch_order(labels, (1.0, 1.5), torch.Generator().manual_seed(1))
    counts = torch.bincount(order, minlength=30)
    assert (counts[:10] == 1).all()                       # class 0: every sample once
    assert sorted(counts[10:].tolist()) == [1] * 10 + [2] * 10   # class 1: all once, half twice
    assert len(order) == 10 + 30
    twice = epoch_order(labels, (2.0, 0.0), torch.Generator().manual_seed(1))
    assert torch.bincount(twice, minlength=30).tolist() == [2] * 10 + [0] * 20
    with pytest.raises(ValueError, match="no entry for class 1"):
        epoch_order(labels, (1.0,), torch.Generator())


def test_augment_flips_and_quarter_turns_only_permute_pixels():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float).reshape(2, 3, 4, 4)
    cfg = TrainConfig(epochs=1, batch_size=2, lr=0.1, rotate=True)
    seen = set()
    for seed in range(12):
        y = augment(x.clone(), cfg, torch.Generator().manual_seed(seed))
        for i in range(2):
            assert sorted(y[i].flatten().tolist()) == sorted(x[i].flatten().tolist())
            # the result is one of the 8 symmetries of the square
            views = [torch.rot90(v, k, (-2, -1)) for v in (x[i], x[i].flip(-1)) for k in range(4)]
            match = [k for k, v in enumerate(views) if torch.equal(v, y[i])]
            assert len(match) == 1
            seen.add(match[0])
    assert len(seen) >= 6
    plain = TrainConfig(epochs=1, batch_size=2, lr=0.1, hflip=False)
    assert torch.equal(augment(x.clone(), plain, torch.Generator()), x)


def test_step_schedule_divides_the_rate_every_step(monkeypatch):
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 2, 2))
    seen = []

    class Spy(torch.optim.Adam):
        def step(self, *a, **k):
            seen.append(self.param_groups[0]["lr"])
            return super().step(*a, **k)

    data = (torch.randint(0, 255, (4, 3, 2, 2), dtype=torch.uint8), torch.tensor([0, 1, 0, 1]))
    cfg = TrainConfig(epochs=5, batch_size=4, lr=1e-2, lr_step=2, lr_gamma=0.1, hflip=False)
    monkeypatch.setattr(torch.optim, "Adam", Spy)
    fit(model, data, data, cfg, torch.Generator().manual_seed(0))
    assert seen == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-4])


def test_shuffled_labels_keep_the_class_counts_and_the_callers_random_state(monkeypatch):
    from xaibook import training

    seen = {}

    def fake_fit(model, train, val, cfg, generator, features=None):
        torch.rand(3)                                  # a fit draws from the global generator
        seen["train"], seen["val"] = train[1].clone(), val[1].clone()
        return "result"

    monkeypatch.setattr(training, "fit", fake_fit)
    y_train, y_val = torch.tensor([0] * 12 + [1] * 4), torch.tensor([0, 0, 1, 1])
    state = torch.get_rng_state()
    out = training.fit_shuffled_labels(None, (torch.zeros(16, 1), y_train), (torch.zeros(4, 1), y_val), None, seed=3)
    assert out == "result" and torch.equal(torch.get_rng_state(), state)
    pooled = torch.cat([seen["train"], seen["val"]])
    assert torch.bincount(pooled).tolist() == [14, 6] and not torch.equal(pooled, torch.cat([y_train, y_val]))
    again = training.fit_shuffled_labels(None, (torch.zeros(16, 1), y_train), (torch.zeros(4, 1), y_val), None, seed=3)
    assert again == "result" and torch.equal(torch.cat([seen["train"], seen["val"]]), pooled)   # same seed, same labels


def test_a_shuffle_that_leaves_a_class_without_training_samples_is_drawn_again(monkeypatch):
    from xaibook import training

    seen = []
    monkeypatch.setattr(training, "fit", lambda model, train, val, cfg, generator, features=None: seen.append(train[1].clone()))
    y_train, y_val = torch.tensor([0] * 6 + [1] * 3 + [2]), torch.tensor([0] * 20 + [1] * 5)
    for seed in range(30):                       # class 2 has one label among 35: most draws put it in validation
        training.fit_shuffled_labels(None, (torch.zeros(10, 1), y_train), (torch.zeros(25, 1), y_val), None, seed)
    assert all((y == 2).any() for y in seen)


def test_shuffled_twins_seed_the_first_as_before_and_the_others_by_draw_seed(monkeypatch):
    from xaibook import training
    from xaibook.saliency.sanity import draw_seed

    seeds = []
    monkeypatch.setattr(training, "shuffled_twin", lambda *a, pretrained, **k: seeds.append(a[5]) or a[5])
    twins = training.shuffled_twins("any", 2, None, None, training.TrainConfig(epochs=1, batch_size=8, lr=0.0), 7, 3,
                                     pretrained=False)
    assert twins == seeds == [7, draw_seed(7, 1), draw_seed(7, 2)]


def test_the_kept_checkpoint_is_the_lowest_validation_loss_not_the_last_epoch():
    """Validation labels are the training labels swapped: every epoch that fits the training set better fits
    the validation set worse, so the validation loss rises from epoch 1 on while the training loss falls.
    The kept weights are epoch 1's, whose validation loss is the lowest, not the last epoch's."""
    from xaibook.training import evaluate_loss

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (4, 3, 2, 2), dtype=torch.uint8, generator=g)
    y = torch.tensor([0, 1, 0, 1])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 2, 2))
    cfg = TrainConfig(epochs=6, batch_size=4, lr=0.05, hflip=False)
    result = fit(model, (images, y), (images, 1 - y), cfg, torch.Generator().manual_seed(0))
    assert result.train_loss == sorted(result.train_loss, reverse=True)      # training keeps improving
    assert result.val_loss == sorted(result.val_loss)                        # validation only gets worse
    assert result.best_epoch == 0 and result.checkpoint == "epoch 1 of 6"
    assert evaluate_loss(model, images, 1 - y, cfg) == pytest.approx(result.val_loss[0], rel=1e-6)


def test_class_weights_move_a_constant_classifier_to_the_weighted_class_share():
    """All images are black, so the model can only learn a constant output. Weighted cross-entropy with
    class weights (1, 3) on labels (0, 0, 1, 1) is minimised at p(class 1) = 3 * 2 / (1 * 2 + 3 * 2) = 3/4;
    unweighted it would be 1/2. The head starts at p = 1/2 (all zeros), where the unweighted gradient is 0,
    so only the weights can move it (a random start would pass 3/4 on its way, and the validation loss, with
    the same weights, would keep that epoch)."""
    from xaibook.training import predict_proba

    images = torch.zeros(4, 3, 2, 2, dtype=torch.uint8)
    y = torch.tensor([0, 0, 1, 1])
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 2, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.zero_()
    cfg = TrainConfig(epochs=80, batch_size=4, lr=0.1, hflip=False, class_weights=(1.0, 3.0))
    fit(model, (images, y), (images, y), cfg, torch.Generator().manual_seed(0))
    p = predict_proba(model, images)[:, 1]
    assert p == pytest.approx([0.75] * 4, abs=5e-3)


def test_an_epoch_with_class_repeats_is_shuffled_across_classes():
    """Repeats build the epoch class by class; the order must then be shuffled, or every batch holds one
    class. Of 20 samples, 10 per class, a random order puts both classes in the first half (all class 0
    first has probability 1 / C(20, 10) = 5e-6), and so does every seed tried here."""
    labels = torch.tensor([0] * 10 + [1] * 10)
    for seed in range(5):
        for repeats in ((1.0, 1.0), (1.0, 1.5)):
            order = epoch_order(labels, repeats, torch.Generator().manual_seed(seed))
            first_half = labels[order[:10]]
            assert 0 < int(first_half.sum()) < 10, (seed, repeats, first_half.tolist())


def test_weighted_losses_are_the_weighted_mean_by_hand():
    """A head fixed at p(class 1) = 3/4 on labels (0, 1) with class weights (1, 3): the losses are ln 4 and
    ln(4/3), and the weighted mean that F.cross_entropy(weight=...) trains on is (ln 4 + 3 ln(4/3)) / (1 + 3), not
    / 2. The loss on pixels and the loss on cached features agree, over batches of two."""
    import math

    from xaibook.training import _features_loss, evaluate_loss

    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 2, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([0.0, math.log(3.0)]))
    y = torch.tensor([0, 1, 1, 0])
    cfg = TrainConfig(epochs=1, batch_size=1, lr=0.0, hflip=False)
    weight = torch.tensor([1.0, 3.0])
    expected = (math.log(4) + 3 * math.log(4 / 3)) / 4
    assert evaluate_loss(model, torch.zeros(4, 3, 2, 2, dtype=torch.uint8), y, cfg, weight) == pytest.approx(expected)
    assert _features_loss(model, torch.zeros(4, 3, 2, 2), y, cfg, weight) == pytest.approx(expected)
