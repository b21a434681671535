import math

import pytest
import torch
import torch.nn.functional as F

from spiking_nr.losses import AdaptiveLossConfig, adaptive_loss, kl_to_uniform


def _data(T=7, B=3, C=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(T, B, C, generator=g, dtype=torch.float64)
    target = torch.randint(0, C, (T, B), generator=g)
    return logits, target


def test_all_ones_mask_is_cross_entropy():
    logits, target = _data()
    loss = adaptive_loss(logits, target, torch.ones_like(target, dtype=torch.bool))
    ref = F.cross_entropy(logits.reshape(-1, 5), target.reshape(-1))
    torch.testing.assert_close(loss, ref)


def test_all_zero_mask_is_kl_to_uniform_and_zero_at_uniform():
    logits, target = _data()
    mask = torch.zeros_like(target, dtype=torch.bool)
    for direction in ("uniform_model", "model_uniform"):
        cfg = AdaptiveLossConfig(kl_direction=direction)
        loss = adaptive_loss(logits, target, mask, cfg)
        p = logits.softmax(-1)
        u = torch.full_like(p, 1 / 5)
        ref = (u * (u / p).log()).sum(-1) if direction == "uniform_model" else (
            p * (p / u).log()).sum(-1)
        torch.testing.assert_close(loss, ref.mean())
        zero = adaptive_loss(torch.zeros_like(logits), target, mask, cfg)
        assert abs(float(zero)) < 1e-12


def test_mixed_mask_weighting_and_normalisation():
    logits, target = _data(T=10)
    mask = torch.zeros(10, 3, dtype=torch.bool)
    mask[:4] = True
    target[7:, 0] = -1  # no class: always a KL step
    log_p = logits.log_softmax(-1)
    ce = -log_p.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    kl = kl_to_uniform(log_p)
    ce_steps = mask & (target >= 0)
    for lam in (0.0, 0.5, 2.0):
        steps = adaptive_loss(logits, target, mask, AdaptiveLossConfig(kl_weight=lam))
        torch.testing.assert_close(steps, (ce[ce_steps].sum() + lam * kl[~ce_steps].sum()) / 30)
        masked = adaptive_loss(logits, target, mask,
                               AdaptiveLossConfig(kl_weight=lam, normalise="masked"))
        torch.testing.assert_close(masked, ce[ce_steps].mean() + lam * kl[~ce_steps].mean())


def test_ignore_excludes_steps():
    logits, target = _data()
    ones = torch.ones_like(target, dtype=torch.bool)
    ignore = torch.zeros_like(ones)
    ignore[0] = True
    a = adaptive_loss(logits, target, ones, ignore=ignore)
    b = adaptive_loss(logits[1:], target[1:], ones[1:])
    torch.testing.assert_close(a, b)


def test_kl_gradient_pushes_towards_uniform():
    logits = torch.tensor([[[3.0, 0.0, -1.0]]], requires_grad=True)
    loss = adaptive_loss(logits, torch.tensor([[-1]]), torch.tensor([[False]]))
    loss.backward()
    assert logits.grad[0, 0, 0] > 0 and logits.grad[0, 0, 2] < 0
    assert loss.item() > 0 and math.isfinite(loss.item())


def test_bad_arguments():
    logits, target = _data()
    with pytest.raises(ValueError, match=r"target values must be in \[-1, 4\]"):
        adaptive_loss(logits, target + 10, torch.ones_like(target, dtype=torch.bool))
    with pytest.raises(ValueError, match="shape"):
        adaptive_loss(logits, target[:3], torch.ones_like(target, dtype=torch.bool))
    with pytest.raises(TypeError, match="integer"):
        adaptive_loss(logits, target.double(), torch.ones_like(target, dtype=torch.bool))
    with pytest.raises(ValueError, match="kl_direction"):
        AdaptiveLossConfig(kl_direction="sideways")


def test_label_free_mode_lets_the_mask_alone_decide():
    logits, target = _data(T=6, B=1)
    target[3:, 0] = -1  # steps 3-5: no class (a distractor or a gap)
    mask = torch.tensor([[True], [False], [True], [True], [False], [False]])
    ce = -F.log_softmax(logits, -1).gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    kl = kl_to_uniform(F.log_softmax(logits, -1))
    # labels mode: CE on 0 and 2, KL on 1, 3, 4, 5 (step 3 is informative but has no class)
    labels = adaptive_loss(logits, target, mask)
    torch.testing.assert_close(labels, (ce[0, 0] + ce[2, 0] + kl[[1, 3, 4, 5], 0].sum()) / 6)
    # mask mode: CE on 0 and 2, KL where the mask is False (1, 4, 5), no term on step 3
    free = adaptive_loss(logits, target, mask, AdaptiveLossConfig(mode="mask"))
    torch.testing.assert_close(free, (ce[0, 0] + ce[2, 0] + kl[[1, 4, 5], 0].sum()) / 5)
    masked = adaptive_loss(logits, target, mask, AdaptiveLossConfig(mode="mask", normalise="masked"))
    torch.testing.assert_close(masked, (ce[0, 0] + ce[2, 0]) / 2 + kl[[1, 4, 5], 0].mean())
    # with the oracle mask both modes are the same loss
    oracle = target >= 0
    torch.testing.assert_close(adaptive_loss(logits, target, oracle),
                               adaptive_loss(logits, target, oracle, AdaptiveLossConfig(mode="mask")))
    with pytest.raises(ValueError, match="loss mode must be one of"):
        AdaptiveLossConfig(mode="auto")
    with pytest.raises(TypeError, match="boolean"):
        adaptive_loss(logits, target, mask.double())
    with pytest.raises(ValueError, match=r"informative must have shape \[T, B\]"):
        adaptive_loss(logits, target, mask[:4])
