"""Consensus masks: majority vote and STAPLE, against SimpleITK."""

import warnings

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import ConvergenceWarning

from skiaa.agreement import StapleResult, majority_vote, staple
from skiaa.agreement import _consensus as consensus_module


def _images(masks):
    return [sitk.GetImageFromArray(np.asarray(m, dtype=np.uint8)) for m in masks]


def _sitk_vote(masks, undecided):
    voter = sitk.LabelVotingImageFilter()
    voter.SetLabelForUndecidedPixels(undecided)
    return sitk.GetArrayFromImage(voter.Execute(_images(masks))) == 1


def _sitk_staple(masks):
    stapler = sitk.STAPLEImageFilter()
    prob = sitk.GetArrayFromImage(stapler.Execute(_images(masks)))
    return prob, np.array(stapler.GetSensitivity()), np.array(stapler.GetSpecificity())


stacks = arrays(bool, st.tuples(st.integers(1, 6), st.integers(1, 12), st.integers(1, 12)))


@st.composite
def annotator_stacks(draw):
    """k annotators who each flip a few pixels of a shared random 'true' mask.

    Closer to real annotations than independent noise, for which STAPLE's EM can
    need hundreds of thousands of iterations.
    """
    k = draw(st.integers(2, 6))
    h, w = draw(st.integers(4, 20)), draw(st.integers(4, 20))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    truth = rng.random((h, w)) < draw(st.floats(0.2, 0.8))
    rates = rng.uniform(0.0, 0.25, size=k)
    flips = rng.random((k, h, w)) < rates[:, None, None]
    return truth ^ flips


# --------------------------------------------------------------------------- #
# Majority vote
# --------------------------------------------------------------------------- #
@given(stacks)
def test_majority_vote_equals_sitk_label_voting(masks):
    assume(masks.shape[0] >= 2)
    np.testing.assert_array_equal(majority_vote(masks), _sitk_vote(masks, undecided=1))
    np.testing.assert_array_equal(
        majority_vote(masks, ties="background"), _sitk_vote(masks, undecided=0)
    )


@given(stacks, st.randoms(use_true_random=False))
def test_majority_vote_properties(masks, rnd):
    order = list(range(masks.shape[0]))
    rnd.shuffle(order)
    vote = majority_vote(masks)
    np.testing.assert_array_equal(vote, majority_vote(masks[order]))
    # Unanimity is kept; an odd number of annotators leaves no tie to break.
    assert vote[masks.all(axis=0)].all()
    assert not vote[~masks.any(axis=0)].any()
    if masks.shape[0] % 2:
        np.testing.assert_array_equal(vote, majority_vote(masks, ties="background"))
    if masks.shape[0] == 1:
        np.testing.assert_array_equal(vote, masks[0])


def test_majority_vote_inputs_and_errors(tmp_path):
    masks = [np.array([[0, 255, 255]], np.uint8), np.array([[0, 1, 0]]), [[False, True, True]]]
    np.testing.assert_array_equal(majority_vote(masks), [[False, True, True]])
    with pytest.raises(ValueError, match="ties"):
        majority_vote(masks, ties="random")
    with pytest.raises(ValueError, match="same shape"):
        majority_vote([np.zeros((2, 2)), np.zeros((2, 3))])


# --------------------------------------------------------------------------- #
# STAPLE
# --------------------------------------------------------------------------- #
@given(annotator_stacks())
def test_staple_equals_sitk(masks):
    prob, sensitivity, specificity = _sitk_staple(masks)
    assume(not np.isnan(prob).any())  # degenerate stacks: tested separately below
    result = staple(masks)
    np.testing.assert_allclose(result.probabilities, prob, atol=1e-3)
    np.testing.assert_allclose(result.sensitivity, sensitivity, atol=1e-3)
    np.testing.assert_allclose(result.specificity, specificity, atol=1e-3)
    np.testing.assert_array_equal(result.mask, result.probabilities > 0.5)


def test_staple_equals_sitk_on_lesion_masks():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:96, :128]
    masks = np.stack(
        [
            ((yy - 48 - rng.normal(0, 2)) / (30 + rng.normal(0, 3))) ** 2
            + ((xx - 64 - rng.normal(0, 2)) / (40 + rng.normal(0, 3))) ** 2
            <= 1
            for _ in range(5)
        ]
    )
    prob, sensitivity, specificity = _sitk_staple(masks)
    result = staple(masks)
    # With SimpleITK's stopping rule the two agree far below the 1e-3 asked for.
    np.testing.assert_allclose(result.probabilities, prob, atol=1e-9)
    np.testing.assert_allclose(result.sensitivity, sensitivity, atol=1e-9)
    np.testing.assert_allclose(result.specificity, specificity, atol=1e-9)
    assert result.prior == pytest.approx(masks.mean())


@pytest.mark.parametrize("complement", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_staple_stops_when_sitk_stops_on_noise_like_stacks(seed, complement):
    # On independent noise one of the two sets of estimates settles tens to
    # hundreds of iterations before the other, and which one depends on the
    # stack: the complement of a stack swaps the roles of sensitivity and
    # specificity. Both implementations stop only when neither set moves by
    # more than 1e-7, so the iteration counts agree exactly (SimpleITK does
    # not count the last iteration), on the stack and on its complement.
    rng = np.random.default_rng(seed)
    masks = rng.random((3, 6, 6)) < rng.uniform(0.2, 0.8, size=(3, 1, 1))
    if complement:
        masks = ~masks
    stapler = sitk.STAPLEImageFilter()
    prob = sitk.GetArrayFromImage(stapler.Execute(_images(masks)))
    # A few hundred iterations: a stopping rule that never holds fails here in
    # 2,000 iterations rather than running the default 100,000.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = staple(masks, max_iter=2000)
    assert result.n_iter == stapler.GetElapsedIterations() + 1
    assert result.n_iter > 100
    np.testing.assert_allclose(result.probabilities, prob, atol=1e-12)
    np.testing.assert_allclose(result.specificity, stapler.GetSpecificity(), atol=1e-12)
    np.testing.assert_allclose(result.sensitivity, stapler.GetSensitivity(), atol=1e-12)


def test_staple_many_annotators_uses_unique_patterns():
    # More than 20 annotators takes the np.unique path instead of bincount codes.
    rng = np.random.default_rng(0)
    truth = rng.random((10, 10)) < 0.5
    masks = truth ^ (rng.random((22, 10, 10)) < 0.05)
    prob, sensitivity, _ = _sitk_staple(masks)
    result = staple(masks)
    np.testing.assert_allclose(result.probabilities, prob, atol=1e-3)
    np.testing.assert_allclose(result.sensitivity, sensitivity, atol=1e-3)


@given(annotator_stacks())
def test_staple_properties(masks):
    result = staple(masks)
    assert isinstance(result, StapleResult)
    assert result.probabilities.shape == masks.shape[1:]
    assert np.all((result.probabilities >= 0) & (result.probabilities <= 1))
    if masks.any(axis=0).any() and not masks.all():
        assert np.all((result.sensitivity >= 0) & (result.sensitivity <= 1))
        assert np.all((result.specificity >= 0) & (result.specificity <= 1))


def test_staple_unanimous_annotators_are_perfect():
    mask = np.zeros((6, 6), bool)
    mask[1:4, 2:5] = True
    result = staple([mask, mask, mask])
    np.testing.assert_array_equal(result.mask, mask)
    np.testing.assert_allclose(result.sensitivity, 1.0)
    np.testing.assert_allclose(result.specificity, 1.0)


def test_staple_degenerate_stacks():
    empty = staple(np.zeros((3, 4, 4), bool))
    assert not empty.mask.any() and (empty.probabilities == 0).all()
    assert np.isnan(empty.sensitivity).all() and (empty.specificity == 1).all()
    full = staple(np.ones((2, 4, 4), np.uint8) * 255)
    assert full.mask.all() and (full.sensitivity == 1).all() and np.isnan(full.specificity).all()
    assert (full.probabilities == 1).all()
    # No EM step is run; the prior is the share of marked pixels.
    assert (empty.n_iter, empty.prior, full.n_iter, full.prior) == (0, 0.0, 0, 1.0)


def test_staple_threshold_tol_and_max_iter_at_their_bounds():
    masks = np.zeros((3, 6, 6), bool)
    masks[:, 1:4, 1:4] = True
    masks[2, 4, 1:4] = True
    result = staple(masks)
    assert result.probabilities.max() == 1.0  # two annotators with specificity 1
    for threshold in (0.0, 1.0):  # both bounds allowed; the mask is probability > threshold
        np.testing.assert_array_equal(
            staple(masks, threshold=threshold).mask, result.probabilities > threshold
        )
    assert not staple(np.zeros((2, 4, 4), bool), threshold=0.0).mask.any()
    assert not staple(np.ones((2, 4, 4), bool), threshold=1.0).mask.any()
    # tol=0 stops at an exact fixed point, which unanimous masks reach at once.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert staple(np.stack([masks[0]] * 3), tol=0.0).n_iter == 2
        assert staple(masks, tol=0.0, max_iter=50).n_iter == 7
    # The prior foreground probability, a quarter of the pixels times
    # confidence_weight, must stay in (0, 1): 4 x 0.25 = 1 is refused.
    quarter = np.zeros((2, 4, 4), bool)
    quarter[:, :2, :2] = True
    assert staple(quarter, confidence_weight=3.99).prior == pytest.approx(0.9975)
    for weight in (4.0, 5.0):
        with pytest.raises(ValueError) as exc:
            staple(quarter, confidence_weight=weight)
        assert str(exc.value) == (
            f"confidence_weight={weight!r} makes the prior foreground probability "
            f"{0.25 * weight!r}, outside (0, 1)"
        )
    for kwargs, message in [
        ({"threshold": 1.5}, "threshold must be in [0.0, 1.0], got 1.5"),
        ({"tol": -1.0}, "tol must be in [0.0, inf], got -1.0"),
        ({"max_iter": True}, "max_iter must be a positive integer, got True"),
        ({"max_iter": 2.0}, "max_iter must be a positive integer, got 2.0"),
    ]:
        with pytest.raises(ValueError) as exc:
            staple(masks, **kwargs)
        assert str(exc.value) == message


def test_staple_convergence_warning_and_errors():
    rng = np.random.default_rng(0)
    masks = rng.random((3, 8, 8)) < 0.5
    with pytest.warns(ConvergenceWarning, match="max_iter=1") as record:
        assert staple(masks, max_iter=1).n_iter == 1
    # The warning points at the caller's line, for binary masks and label maps alike.
    with pytest.warns(ConvergenceWarning, match="max_iter=1") as labelled:
        staple(
            masks.astype(np.uint8) * np.array([1, 2, 1])[:, None, None], labels="all", max_iter=1
        )
    if not hasattr(consensus_module, "x_staple__mutmut_orig"):  # mutmut's trampolines add frames
        assert [r.filename for r in (*record, *labelled)] == [__file__, __file__]
    for kwargs, message in [
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"threshold": 2.0}, "threshold"),
        ({"confidence_weight": 10.0}, "outside"),
    ]:
        with pytest.raises(ValueError, match=message):
            staple(masks, **kwargs)


@pytest.mark.parametrize("labels", [None, [1, 2]])
def test_the_consensus_of_one_mask_is_that_mask(labels):
    mask = np.zeros((6, 6), dtype=np.uint8)
    mask[1:3, 1:3] = 1
    if labels is not None:
        mask[3:5, 3:5] = 2
    np.testing.assert_array_equal(majority_vote(mask[None], labels=labels), mask)
    # EM on one mask is at its fixed point at once; a cap far above that turns a
    # loop that never converges into a ConvergenceWarning, raised here.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = staple(mask[None], labels=labels, max_iter=100)
    np.testing.assert_array_equal(result.mask, mask)
    assert result.n_iter <= 2
