"""Focal and multi-task losses against brute-force references."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skiaa.losses import FocalLoss, MultiTaskLoss

finite = st.floats(-8, 8, allow_nan=False, width=32)


@st.composite
def problems(draw, max_n=8, max_k=4):
    n = draw(st.integers(1, max_n))
    k = draw(st.integers(2, max_k))
    logits = draw(arrays(np.float32, (n, k), elements=finite))
    target = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    weight = draw(arrays(np.float32, (k,), elements=st.floats(0.125, 5, width=32)))
    return torch.from_numpy(logits), torch.from_numpy(target), torch.from_numpy(weight)


def _focal_reference(logits, target, weight, gamma):
    num = den = 0.0
    for row, t in zip(logits.tolist(), target.tolist()):
        m = max(row)
        log_z = m + math.log(sum(math.exp(v - m) for v in row))
        log_p = row[t] - log_z
        w = 1.0 if weight is None else float(weight[t])
        num += -w * (1 - math.exp(log_p)) ** gamma * log_p
        den += w
    return num / den


@given(problems(), st.floats(0, 5))
def test_focal_matches_brute_force(problem, gamma):
    logits, target, weight = problem
    got = FocalLoss(gamma=gamma, weight=weight)(logits, target).item()
    assert got == pytest.approx(
        _focal_reference(logits, target, weight, gamma), rel=1e-4, abs=1e-5
    )


@given(problems())
def test_focal_gamma_zero_is_weighted_cross_entropy(problem):
    logits, target, weight = problem
    ce = torch.nn.functional.cross_entropy(logits, target, weight=weight)
    assert FocalLoss(gamma=0.0, weight=weight)(logits, target).item() == pytest.approx(
        ce.item(), rel=1e-5, abs=1e-6
    )


@given(problems(), st.floats(0.1, 5))
def test_focal_is_nonnegative_and_at_most_cross_entropy(problem, gamma):
    logits, target, _ = problem
    focal = FocalLoss(gamma=gamma, reduction="none")(logits, target)
    ce = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    assert (focal >= 0).all()
    assert (focal <= ce + 1e-6).all()


def test_focal_reductions_and_bf16_logits():
    logits = torch.tensor([[1.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
    target = torch.tensor([0, 1, 1])
    per_row = FocalLoss(reduction="none")(logits, target)
    assert FocalLoss(reduction="sum")(logits, target).item() == pytest.approx(per_row.sum().item())
    assert FocalLoss()(logits, target).item() == pytest.approx(per_row.mean().item())
    # bf16 logits (autocast) give a float32 loss.
    assert FocalLoss()(logits.bfloat16(), target).dtype == torch.float32


def _paper_focal_reference(logits, target, weight, gamma):
    # The authors' formula written out: -(1 - p^w)^gamma * w * log p, plain batch mean.
    total = 0.0
    for row, t in zip(logits.tolist(), target.tolist()):
        m = max(row)
        p = math.exp(row[t] - m) / sum(math.exp(v - m) for v in row)
        w = float(weight[t])
        total += -((1 - p**w) ** gamma) * w * math.log(p)
    return total / len(target)


def test_float64_outputs_keep_their_precision():
    # A network cast to double precision trains with a float64 loss: narrowed to
    # float32, the outputs would lose their last 8 digits, and every gradient with them.
    logits = torch.tensor([[1.0, 0.0], [0.0, 3.0], [2.0, 2.0]], dtype=torch.float64) / 3
    target = torch.tensor([0, 1, 1])
    weight = torch.tensor([0.6, 3.0])
    focal = FocalLoss(weight=weight, variant="paper")(logits, target)
    assert focal.dtype == torch.float64
    want = _paper_focal_reference(logits, target, weight, 2.0)
    assert focal.item() == pytest.approx(want, rel=1e-14)
    iaa_pred = torch.tensor([0.2, 0.9, 0.4], dtype=torch.float64) / 3
    y = torch.tensor([[0.0, 0.5], [1.0, 0.25], [1.0, 0.75]])  # float32, as the estimators'
    loss = MultiTaskLoss(alpha=0.5, weight=weight, focal="paper")((logits, iaa_pred), y)
    assert loss.dtype == torch.float64
    reg = _smooth_l1_reference(iaa_pred.tolist(), [0.5, 0.25, 0.75], 1.0)
    assert loss.item() == pytest.approx(0.5 * want + 0.5 * reg, rel=1e-14)


@given(problems(), st.floats(0, 5))
def test_paper_focal_matches_the_authors_formula(problem, gamma):
    logits, target, weight = problem
    # Keep p away from 0 so that the float64 reference's log(p) is finite.
    logits = logits.clamp(-4, 4)
    got = FocalLoss(gamma=gamma, weight=weight, variant="paper")(logits, target).item()
    want = _paper_focal_reference(logits, target, weight, gamma)
    assert got == pytest.approx(want, rel=1e-4, abs=1e-5)


def test_paper_focal_differs_from_standard_with_weights_and_is_a_plain_mean():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.3, 0.2]])
    target = torch.tensor([0, 1, 1])
    weight = torch.tensor([0.6, 3.0])
    paper = FocalLoss(weight=weight, variant="paper")
    standard = FocalLoss(weight=weight)
    assert paper(logits, target).item() != pytest.approx(standard(logits, target).item())
    per_row = FocalLoss(weight=weight, variant="paper", reduction="none")(logits, target)
    assert paper(logits, target).item() == pytest.approx(per_row.sum().item() / 3)
    # Without weights the two forms differ only in how the mean is taken (both plain).
    assert FocalLoss(variant="paper")(logits, target).item() == pytest.approx(
        FocalLoss()(logits, target).item()
    )
    # The multi-task loss passes the variant on.
    y = torch.stack([target.float(), torch.full((3,), 0.5)], dim=1)
    mt = MultiTaskLoss(alpha=1.0, weight=weight, focal="paper")((logits, torch.zeros(3)), y)
    assert mt.item() == pytest.approx(paper(logits, target).item())


@pytest.mark.parametrize("kwargs", [{"gamma": -1}, {"reduction": "max"}, {"variant": "original"}])
def test_focal_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        FocalLoss(**kwargs)


@given(problems(), st.floats(0, 1), st.floats(0.1, 5))
def test_multitask_is_the_weighted_sum(problem, alpha, gamma):
    logits, target, weight = problem
    n = len(target)
    gen = torch.Generator().manual_seed(n)
    iaa_pred = torch.rand(n, generator=gen)
    iaa_true = torch.rand(n, generator=gen)
    y = torch.stack([target.float(), iaa_true], dim=1)
    got = MultiTaskLoss(alpha=alpha, gamma=gamma, weight=weight)((logits, iaa_pred), y).item()
    focal = FocalLoss(gamma=gamma, weight=weight)(logits, target).item()
    reg = torch.nn.functional.smooth_l1_loss(iaa_pred, iaa_true).item()
    assert got == pytest.approx(alpha * focal + (1 - alpha) * reg, rel=1e-4, abs=1e-6)


def test_multitask_ignores_nan_iaa_rows_and_alpha_one_ignores_iaa():
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.1]])
    iaa_pred = torch.tensor([0.2, 0.9, 0.4])
    y = torch.tensor([[0.0, 0.5], [1.0, float("nan")], [0.0, 0.4]])
    loss = MultiTaskLoss(alpha=0.0)((logits, iaa_pred), y).item()
    expected = torch.nn.functional.smooth_l1_loss(iaa_pred[[0, 2]], y[[0, 2], 1]).item()
    assert loss == pytest.approx(expected)
    y_all_nan = y.clone()
    y_all_nan[:, 1] = float("nan")
    assert math.isfinite(MultiTaskLoss(alpha=1.0)((logits, iaa_pred), y_all_nan).item())
    assert MultiTaskLoss(alpha=0.0)((logits, iaa_pred), y_all_nan).item() == 0.0


def test_multitask_rejects_alpha_outside_unit_interval():
    with pytest.raises(ValueError, match="alpha"):
        MultiTaskLoss(alpha=1.5)


def _smooth_l1_reference(pred, true, beta):
    total = 0.0
    for p, t in zip(pred, true):
        d = abs(p - t)
        total += 0.5 * d * d / beta if d < beta else d - 0.5 * beta
    return total / len(pred)


@given(
    arrays(np.float32, (6,), elements=st.floats(-2, 2, width=32)),
    st.floats(0.05, 3.0),
    st.floats(0, 0.9),
)
def test_multitask_beta_is_the_smooth_l1_threshold(iaa_pred, beta, alpha):
    # The IAA term is smooth_l1(beta) for beta != 1 too: a loss that ignored beta
    # would equal smooth_l1(beta=1) instead.
    iaa_true = np.linspace(0, 1, 6, dtype=np.float32)
    logits = torch.zeros(6, 2)
    y = torch.stack([torch.zeros(6), torch.from_numpy(iaa_true)], dim=1)
    loss = MultiTaskLoss(alpha=alpha, beta=beta, gamma=0.0)
    got = loss((logits, torch.from_numpy(iaa_pred)), y).item()
    focal = math.log(2)  # uniform logits, gamma 0: the cross-entropy of 2 classes
    reg = _smooth_l1_reference(iaa_pred.tolist(), iaa_true.tolist(), beta)
    assert got == pytest.approx(alpha * focal + (1 - alpha) * reg, rel=1e-4, abs=1e-6)
    torch_reg = torch.nn.functional.smooth_l1_loss(
        torch.from_numpy(iaa_pred), torch.from_numpy(iaa_true), beta=beta
    ).item()
    assert reg == pytest.approx(torch_reg, rel=1e-4, abs=1e-6)
