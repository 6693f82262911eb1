"""Multi-rater agreement: Krippendorff's alpha, GED, uncertainty maps, annotator vs consensus."""

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skiaa.agreement import (
    DEFAULT_METRICS,
    AlphaUndefinedWarning,
    EmptyMaskWarning,
    annotator_vs_consensus,
    dice,
    generalized_energy_distance,
    hd95,
    image_agreement,
    krippendorff_alpha,
    majority_vote,
    pairwise_agreement,
    staple,
    surface_dice,
    uncertainty_map,
)

krippendorff = pytest.importorskip("krippendorff", reason="reference package (the 'test' extra)")


@st.composite
def stacks(draw, min_k=2, max_k=5, max_side=8, ndim=2):
    k = draw(st.integers(min_k, max_k))
    shape = tuple(draw(st.integers(1, max_side)) for _ in range(ndim))
    return draw(arrays(bool, (k, *shape)))


def _reference_alpha(reliability):
    return krippendorff.alpha(
        reliability_data=np.asarray(reliability, dtype=np.float64),
        level_of_measurement="nominal",
        value_domain=[0, 1],
    )


def _both_values(stack):
    return stack.any() and not stack.all()


# --------------------------------------------------------------------------- #
# Krippendorff's alpha
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("seed", range(8))
def test_alpha_equals_reference_with_missing_values(seed):
    rng = np.random.default_rng(seed)
    k, h, w = rng.integers(2, 7), rng.integers(2, 12), rng.integers(2, 12)
    truth = rng.random((h, w)) < 0.4
    flips = rng.random((k, h, w)) < rng.uniform(0.05, 0.4)
    values = (truth ^ flips).astype(np.float64)
    values[rng.random(values.shape) < 0.3] = np.nan  # raters missing per pixel
    assume_both = np.nanmax(values) != np.nanmin(values)
    if not assume_both:
        pytest.skip("drew a single value")
    expected = _reference_alpha(values.reshape(k, -1))
    assert krippendorff_alpha(values) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_pooled_alpha_equals_reference_with_raters_missing_from_images(seed):
    # A panel of 6 raters; each image is outlined by a subset of them, of its own size.
    rng = np.random.default_rng(100 + seed)
    panel = 6
    images, columns = [], []
    for _ in range(rng.integers(2, 6)):
        h, w = rng.integers(3, 10), rng.integers(3, 10)
        raters = np.sort(rng.choice(panel, size=rng.integers(1, panel + 1), replace=False))
        truth = rng.random((h, w)) < 0.5
        stack = truth ^ (rng.random((raters.size, h, w)) < 0.2)
        images.append(stack)
        block = np.full((panel, h * w), np.nan)
        block[raters] = stack.reshape(raters.size, -1)
        columns.append(block)
    expected = _reference_alpha(np.concatenate(columns, axis=1))
    assert krippendorff_alpha(images, pooled=True) == pytest.approx(expected, abs=1e-12)


def test_pooled_alpha_with_nan_images_all_zero_and_single_mask_equals_reference():
    # Images given as float stacks with NaN for missing values, among them one
    # where every present value is 0 (nobody outlined anything: its pairs still
    # count, as agreeing zeros) and one of a single rater's mask (no pair; it
    # must not be refused for holding fewer masks than the others).
    rng = np.random.default_rng(5)
    varied = (rng.random((3, 4, 4)) < 0.5).astype(float)
    varied[0, 0, :2] = np.nan
    zeros = np.zeros((3, 3, 3))
    zeros[1, 1, 1] = zeros[2, 0, :] = np.nan
    single = np.array([[[1.0, 0.0, np.nan]]])
    columns = []
    for stack in (varied, zeros, single):
        block = np.full((3, stack[0].size), np.nan)
        block[: len(stack)] = stack.reshape(len(stack), -1)
        columns.append(block)
    expected = _reference_alpha(np.concatenate(columns, axis=1))
    pooled = krippendorff_alpha([varied, zeros, single], pooled=True)
    assert pooled == pytest.approx(expected, abs=1e-12)
    # The all-zero image moves the pooled value: it is read as zeros, not as ones.
    assert pooled != pytest.approx(krippendorff_alpha([varied, single], pooled=True))


def test_pooled_alpha_message_names_the_image_and_shows_six_values():
    bad = np.array([[[0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, np.nan]], [[0.0] * 8]])
    good = np.zeros((2, 1, 2))
    with pytest.raises(ValueError) as info:
        krippendorff_alpha([good, bad], pooled=True)
    assert str(info.value) == (
        "image 1: mask values must be {0, 1} or {0, 255} (NaN marks a missing value), "
        "found {0.0, 2.0, 3.0, 4.0, 5.0, 6.0, ...}"
    )
    with pytest.raises(ValueError) as info:
        krippendorff_alpha(bad[:, :, [0, 1, 2, 3, 4, 5, 7]])  # six values and a NaN
    assert str(info.value) == (
        "mask values must be {0, 1} or {0, 255} (NaN marks a missing value), "
        "found {0.0, 2.0, 3.0, 4.0, 5.0, 6.0}"
    )


@pytest.mark.parametrize("k", [255, 256, 300])
def test_alpha_with_hundreds_of_raters_equals_reference(k):
    # Votes per pixel are counted in uint8 below 256 raters: at 256 a pixel
    # every rater marks must count 256, not wrap to 0.
    rng = np.random.default_rng(k)
    stack = np.ones((k, 2, 3), bool)
    stack[:, 1, :] = rng.random((k, 3)) < 0.7
    expected = _reference_alpha(stack.reshape(k, -1).astype(float))
    assert krippendorff_alpha(stack) == pytest.approx(expected, abs=1e-12)
    with_missing = stack.astype(float)
    with_missing[0, 0, 0] = np.nan
    expected = _reference_alpha(with_missing.reshape(k, -1))
    assert krippendorff_alpha(with_missing) == pytest.approx(expected, abs=1e-12)
    labels = stack.astype(np.uint8) * 2
    labels[: k // 2, 1, 0] = 1
    want = krippendorff.alpha(
        reliability_data=labels.reshape(k, -1).astype(float), level_of_measurement="nominal"
    )
    assert krippendorff_alpha(labels, labels="all") == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("labels", [None, "all"])
def test_energy_distance_messages_name_the_bad_set(labels):
    good = np.zeros((2, 3, 3), np.uint8)
    good[0, 1, 1] = 1
    bad = np.full((2, 3, 3), 7.5)  # neither a binary mask nor a label map
    with pytest.raises(ValueError, match="^samples: "):
        generalized_energy_distance(bad, good, labels=labels)
    with pytest.raises(ValueError, match="^annotators: "):
        generalized_energy_distance(good, bad, labels=labels)


def test_alpha_of_volumes_equals_reference():
    rng = np.random.default_rng(7)
    truth = rng.random((5, 6, 7)) < 0.5
    stack = truth ^ (rng.random((3, 5, 6, 7)) < 0.1)
    expected = _reference_alpha(stack.reshape(3, -1).astype(float))
    assert krippendorff_alpha(stack) == pytest.approx(expected, abs=1e-12)


def test_alpha_accepts_lists_paths_and_255(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    stack = rng.random((3, 9, 9)) < 0.5
    paths = []
    for j, mask in enumerate(stack):
        paths.append(tmp_path / f"m{j}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(paths[-1])
    expected = krippendorff_alpha(stack)
    assert krippendorff_alpha(list(stack)) == expected
    assert krippendorff_alpha(stack.astype(np.uint8) * 255) == expected
    assert krippendorff_alpha(paths) == expected


@given(stacks())
def test_alpha_is_one_for_identical_masks(stack):
    same = np.repeat(stack[:1], stack.shape[0], axis=0)
    assume(_both_values(same))
    assert krippendorff_alpha(same) == 1.0


@given(stacks(), st.randoms(use_true_random=False))
def test_alpha_does_not_depend_on_the_order_of_annotators(stack, rnd):
    assume(_both_values(stack))
    order = list(range(stack.shape[0]))
    rnd.shuffle(order)
    assert krippendorff_alpha(stack[order]) == pytest.approx(krippendorff_alpha(stack), abs=1e-12)


@given(stacks(max_k=4, max_side=6))
def test_alpha_property_matches_reference_and_bounds(stack):
    assume(_both_values(stack))
    alpha = krippendorff_alpha(stack)
    expected = _reference_alpha(stack.reshape(stack.shape[0], -1).astype(float))
    assert alpha == pytest.approx(expected, abs=1e-10)
    assert -1.0 - 1e-12 <= alpha <= 1.0 + 1e-12


def test_alpha_is_negative_for_systematic_disagreement():
    # Two raters who never agree: below chance, as the reference gives.
    stack = np.zeros((2, 2, 2), bool)
    stack[0, 0] = True
    stack[1, 1] = True
    assert krippendorff_alpha(stack) == pytest.approx(_reference_alpha(stack.reshape(2, -1)))
    assert krippendorff_alpha(stack) < 0


@pytest.mark.parametrize("fill", [False, True])
def test_alpha_undefined_for_a_single_value_warns_and_returns_nan(fill):
    stack = np.full((3, 4, 4), fill)
    with pytest.warns(AlphaUndefinedWarning, match="undefined"):
        assert math.isnan(krippendorff_alpha(stack))


def test_alpha_of_one_annotator_is_a_value_error_saying_so():
    one = np.zeros((1, 5, 5), bool)
    one[0, 1:3, 1:4] = True
    with pytest.raises(ValueError) as exc:
        krippendorff_alpha(one)
    assert str(exc.value) == (
        "Krippendorff's alpha needs the masks of at least two annotators (it measures "
        "their agreement); got 1 mask"
    )
    with pytest.raises(ValueError) as exc:
        krippendorff_alpha([one, one[:, :4]], pooled=True)
    assert str(exc.value) == (
        "Krippendorff's alpha needs the masks of at least two annotators (it measures "
        "their agreement); with pooled=True, each of the 2 image(s) has one mask"
    )
    # Pooled, an image by one annotator adds nothing but does not stop the others.
    two = np.concatenate([one, one])
    assert krippendorff_alpha([one, two], pooled=True) == 1.0
    # Label maps too.
    with pytest.raises(ValueError, match=r"at least two annotators .*; got 1 mask$"):
        krippendorff_alpha(one.astype(np.uint8) * 2, labels="all")


def test_alpha_pixels_with_one_value_do_not_count():
    values = np.array([[1.0, 0.0, np.nan], [1.0, 0.0, 1.0]])
    # The third pixel has one value: unpairable, as in the reference.
    assert krippendorff_alpha(values[:, None]) == pytest.approx(_reference_alpha(values))
    assert krippendorff_alpha(values[:, None]) == 1.0


@pytest.mark.parametrize(
    ("masks", "match"),
    [
        (np.array([[0.0, 0.5], [1.0, 0.0]])[None], r"\{0, 1\}"),
        ([np.zeros((3, 3)), np.zeros((3, 4))], "same shape"),
        (np.zeros(3), "shape"),
        (np.eye(4), r"must be \(k, H, W\) or \(k, D, H, W\), got shape \(4, 4\)"),
    ],
)
def test_alpha_refuses_bad_masks(masks, match):
    with pytest.raises(ValueError, match=match):
        krippendorff_alpha(masks)


def test_pooled_alpha_names_the_bad_image():
    good = np.zeros((2, 3, 3), bool)
    good[0, 1, 1] = True
    with pytest.raises(ValueError, match="image 1"):
        krippendorff_alpha([good, np.full((2, 3, 3), 7)], pooled=True)
    with pytest.raises(ValueError, match="sequence of mask stacks"):
        krippendorff_alpha("masks", pooled=True)
    # Over labels too: the bad image is named, a good one is not.
    with pytest.raises(ValueError, match="^image 1: "):
        krippendorff_alpha(
            [good.astype(np.uint8), np.full((2, 3, 3), 1.5)], pooled=True, labels="all"
        )


# --------------------------------------------------------------------------- #
# Generalized energy distance, against its definition written out
# --------------------------------------------------------------------------- #
def _iou_distance(a, b):
    """``1 - |A ∩ B| / |A ∪ B|`` on the pixel sets; 0 for two empty masks."""
    set_a = {tuple(p) for p in np.argwhere(a)}
    set_b = {tuple(p) for p in np.argwhere(b)}
    union = set_a | set_b
    return 0.0 if not union else 1.0 - len(set_a & set_b) / len(union)


def _ged_by_definition(samples, annotators, unbiased=False):
    def expectation(xs, ys, same):
        terms = [
            _iou_distance(x, y)
            for (i, x), (j, y) in itertools.product(enumerate(xs), enumerate(ys))
            if not (same and unbiased and i == j)
        ]
        return sum(terms) / len(terms)

    cross = expectation(samples, annotators, False)
    d_ss = expectation(samples, samples, True)
    d_yy = expectation(annotators, annotators, True)
    return 2 * cross - d_ss - d_yy, cross, d_ss, d_yy


@given(stacks(min_k=1, max_k=4), stacks(min_k=1, max_k=4), st.booleans())
def test_ged_equals_its_definition(samples, annotators, unbiased):
    annotators = np.resize(annotators, (annotators.shape[0], *samples.shape[1:]))
    if unbiased:
        assume(samples.shape[0] >= 2 and annotators.shape[0] >= 2)
    result = generalized_energy_distance(samples, annotators, unbiased=unbiased)
    expected = _ged_by_definition(list(samples), list(annotators), unbiased)
    assert tuple(result) == pytest.approx(expected, abs=1e-12)


@given(stacks(min_k=1), stacks(min_k=1))
def test_ged_is_symmetric_and_zero_on_itself(samples, annotators):
    annotators = np.resize(annotators, (annotators.shape[0], *samples.shape[1:]))
    forward = generalized_energy_distance(samples, annotators)
    backward = generalized_energy_distance(annotators, samples)
    assert forward.ged == pytest.approx(backward.ged, abs=1e-12)
    assert forward.sample_diversity == backward.annotator_diversity
    assert generalized_energy_distance(annotators, annotators).ged == pytest.approx(0, abs=1e-12)
    # Permuting the annotators changes nothing.
    flipped = generalized_energy_distance(samples, annotators[::-1])
    assert flipped.ged == pytest.approx(forward.ged, abs=1e-12)


def test_ged_of_volumes_and_errors():
    rng = np.random.default_rng(0)
    samples = rng.random((3, 4, 5, 6)) < 0.5
    annotators = rng.random((2, 4, 5, 6)) < 0.5
    expected = _ged_by_definition(list(samples), list(annotators))
    assert tuple(generalized_energy_distance(samples, annotators)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="same shape"):
        generalized_energy_distance(samples, annotators[:, :3])
    with pytest.raises(ValueError, match="at least 2 samples"):
        generalized_energy_distance(samples[:1], annotators, unbiased=True)
    with pytest.raises(ValueError, match="samples"):
        generalized_energy_distance(np.full((2, 3, 3), 3), annotators[:, 0, :3, :3])


# --------------------------------------------------------------------------- #
# Uncertainty map
# --------------------------------------------------------------------------- #
@given(stacks(min_k=1))
def test_uncertainty_map_is_the_mean_and_its_binary_entropy(stack):
    result = uncertainty_map(stack)
    p = stack.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    expected = np.nan_to_num(expected, nan=0.0)
    np.testing.assert_allclose(result.mean, p)
    np.testing.assert_allclose(result.entropy, expected, atol=1e-12)
    assert np.all((result.entropy >= 0) & (result.entropy <= 1 + 1e-12))
    order = np.arange(stack.shape[0])[::-1]
    np.testing.assert_array_equal(uncertainty_map(stack[order]).entropy, result.entropy)


def test_uncertainty_map_base_and_errors():
    stack = np.array([[[1, 0]], [[0, 0]]])
    nats = uncertainty_map(stack, base=math.e).entropy
    np.testing.assert_allclose(nats, [[math.log(2), 0.0]])
    for base in (1, True, "2", None):  # a string is refused by type, not compared
        with pytest.raises(ValueError, match=f"base must be a number above 1, got {base!r}"):
            uncertainty_map(stack, base=base)


# --------------------------------------------------------------------------- #
# Annotator vs consensus
# --------------------------------------------------------------------------- #
def _lesions(k=4, seed=0, shape=(24, 24)):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    masks = []
    for _ in range(k):
        cy, cx = shape[0] / 2 + rng.normal(0, 1.5), shape[1] / 2 + rng.normal(0, 1.5)
        r = shape[0] / 4 + rng.normal(0, 1.5)
        masks.append((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r)
    return np.stack(masks)


@pytest.mark.parametrize("method", ["staple", "majority"])
def test_leave_one_out_compares_with_the_others_consensus(method):
    masks = _lesions(4)
    table = annotator_vs_consensus(masks, method=method, metrics=["dice", "hd95"], image_id="x")
    consensus = staple if method == "staple" else majority_vote
    for j in range(4):
        others = np.delete(masks, j, axis=0)
        reference = consensus(others)
        reference = reference.mask if method == "staple" else reference
        row = table.iloc[j]
        assert row["image_id"] == "x" and row["index"] == j and row["n_others"] == 3
        assert row["dice"] == pytest.approx(dice(masks[j], reference))
        assert row["hd95"] == pytest.approx(hd95(masks[j], reference))


@pytest.mark.parametrize("leave_one_out", [True, False])
def test_annotator_vs_consensus_passes_every_option_to_the_metrics(leave_one_out):
    # Each row equals pairwise_agreement of the mask and its consensus with
    # the same options: spacing, tolerance, hd_percentile, empty, metrics.
    masks = _lesions(4, seed=8, shape=(20, 28))
    masks[1, 2:5, 2:5] = True  # a far blob: HD95 pooled and max differ
    masks[3] = False  # an empty mask: distances to its consensus are the worst case
    options = dict(spacing=(0.7, 1.9), tolerance=1.3, hd_percentile="max", empty="worst")
    metrics = ["dice", "hd95", "surface_dice", "boundary_f1"]
    table = annotator_vs_consensus(
        masks, method="majority", leave_one_out=leave_one_out, metrics=metrics, **options
    )
    assert list(table.columns) == ["index", "consensus", "n_others", *metrics]
    assert (table["consensus"] == "majority").all()
    for j in range(4):
        others = np.delete(masks, j, axis=0) if leave_one_out else masks
        pair = np.stack([masks[j], majority_vote(others)])
        expected = pairwise_agreement(pair, metrics, **options).iloc[0][metrics]
        np.testing.assert_allclose(table.iloc[j][metrics].astype(float), expected.astype(float))
    # Without metrics, the default ones, in their order.
    default = annotator_vs_consensus(masks, method="majority", empty="worst")
    assert list(default.columns[3:]) == list(DEFAULT_METRICS)
    # The default tolerance is the documented 2.0.
    np.testing.assert_array_equal(
        annotator_vs_consensus(masks, metrics="surface_dice", empty="worst")["surface_dice"],
        annotator_vs_consensus(masks, metrics="surface_dice", empty="worst", tolerance=2.0)[
            "surface_dice"
        ],
    )


def test_annotator_vs_consensus_on_area_weighted_surface_elements():
    # DeepMind's definitions (surface elements weighted by their area) reach the
    # per-annotator table too, with a spacing.
    masks = _lesions(4, seed=5, shape=(20, 28))
    table = annotator_vs_consensus(
        masks,
        method="majority",
        metrics=["hd95", "surface_dice"],
        hd_percentile="area_weighted",
        spacing=(0.8, 1.3),
    )
    differs = False
    for j in range(4):
        reference = majority_vote(np.delete(masks, j, axis=0))
        want = hd95(masks[j], reference, spacing=(0.8, 1.3), hd_percentile="area_weighted")
        assert table["hd95"][j] == pytest.approx(want)
        want_sd = surface_dice(masks[j], reference, spacing=(0.8, 1.3), surface="pixels")
        assert table["surface_dice"][j] == pytest.approx(want_sd)
        differs |= want != pytest.approx(hd95(masks[j], reference, spacing=(0.8, 1.3)))
    assert differs  # the definition changes the numbers on these masks


def test_without_leave_one_out_every_mask_meets_the_full_consensus():
    masks = _lesions(5, seed=2)
    table = annotator_vs_consensus(masks, method="majority", leave_one_out=False, metrics="dice")
    reference = majority_vote(masks)
    expected = [dice(m, reference) for m in masks]
    np.testing.assert_allclose(table["dice"], expected)
    assert (table["n_others"] == 5).all()


def test_leave_one_out_leaves_out_all_masks_of_the_same_annotator():
    masks = _lesions(4, seed=3)
    codes = ["A01", "A01", "A02", "A03"]
    table = annotator_vs_consensus(masks, codes, method="majority", metrics="dice")
    reference = majority_vote(masks[2:])
    assert table["n_others"].tolist() == [2, 2, 3, 3]
    assert table["dice"].iloc[0] == pytest.approx(dice(masks[0], reference))
    assert table["dice"].iloc[1] == pytest.approx(dice(masks[1], reference))
    assert table["annotator"].tolist() == codes


def test_consensus_masks_in_the_input_are_left_out():
    masks = _lesions(4, seed=4)
    codes = ["A01", "A02", "ST", "A03"]
    table = annotator_vs_consensus(masks, codes, method="majority", metrics="dice")
    assert table["annotator"].tolist() == ["A01", "A02", "A03"]
    assert table["index"].tolist() == [0, 1, 3]
    reference = majority_vote(masks[[1, 3]])
    assert table["dice"].iloc[0] == pytest.approx(dice(masks[0], reference))


def test_single_annotator_image_gets_nan_and_errors():
    masks = _lesions(2, seed=5)
    table = annotator_vs_consensus(masks, ["A01", "A01"], metrics="dice")
    assert table["n_others"].tolist() == [0, 0]
    assert table["dice"].isna().all()
    with pytest.raises(ValueError, match="image z: .*at least 2 annotator masks"):
        annotator_vs_consensus(masks[:1], image_id="z")
    with pytest.raises(ValueError, match="method"):
        annotator_vs_consensus(masks, method="mean")
    with pytest.raises(ValueError, match="annotators must have one entry per mask"):
        annotator_vs_consensus(masks, ["A01"])


def test_release_naming_and_empty_mask_warning():
    masks = _lesions(3, seed=6)
    masks[0] = False
    with pytest.warns(EmptyMaskWarning, match="mask 0 and the consensus of the others"):
        table = annotator_vs_consensus(masks, metrics=["dice", "hd95"], naming="release")
    assert {"dice_score", "hd95_score"} <= set(table.columns)
    assert math.isnan(table["hd95_score"].iloc[0])
    assert table["dice_score"].iloc[0] == 0.0


def test_annotator_tables_concatenate_over_images():
    from scipy.ndimage import binary_erosion

    # Annotator "A" outlines every lesion 3 pixels inside its border: over the
    # images, their mean Dice to the others' consensus ranks them last, although
    # they come first in alphabetical order and second in each stack.
    names = ["E", "A", "D", "B", "C"]
    tables = []
    for s in range(3):
        masks = _lesions(5, seed=s)
        masks[1] = binary_erosion(masks[1], iterations=3)
        tables.append(annotator_vs_consensus(masks, names, image_id=f"i{s}"))
    table = pd.concat(tables, ignore_index=True)
    assert table["image_id"].tolist() == ["i0"] * 5 + ["i1"] * 5 + ["i2"] * 5
    assert table["annotator"].tolist() == names * 3
    ranking = table.groupby("annotator")["dice"].mean().sort_values(ascending=False)
    assert ranking.index[-1] == "A"
    assert ranking["A"] < ranking.drop("A").min() - 0.1
    for s, part in enumerate(tables):
        rows = table[table["image_id"] == f"i{s}"].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows, part.reset_index(drop=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no spurious warning on ordinary masks
        annotator_vs_consensus(_lesions(3), method="majority")


# --------------------------------------------------------------------------- #
# Per-image measures in AgreementTransformer
# --------------------------------------------------------------------------- #
def test_transformer_measures_equal_the_functions():
    from skiaa import AgreementTransformer
    from skiaa.agreement import IMAGE_MEASURES

    images = [_lesions(3, seed=s) for s in range(3)] + [_lesions(5, seed=9, shape=(20, 30))]
    t = AgreementTransformer(metrics="dice", measures=IMAGE_MEASURES)
    table = t.set_output(transform="pandas").fit_transform(images)
    assert list(table.columns) == ["dice_mean", *IMAGE_MEASURES, "n_masks"]
    for i, stack in enumerate(images):
        row = table.iloc[i]
        assert row["krippendorff_alpha"] == pytest.approx(krippendorff_alpha(stack))
        ged = generalized_energy_distance(stack, stack)
        assert row["annotator_diversity"] == pytest.approx(ged.annotator_diversity)
        result = uncertainty_map(stack)
        union = stack.any(axis=0)
        assert row["union_entropy"] == pytest.approx(result.entropy[union].mean())
    # One image's alpha is undefined: NaN and a warning naming the image.
    with pytest.warns(AlphaUndefinedWarning, match="image 1: "):
        out = t.transform([images[0], np.zeros((3, 8, 8), bool)])
    assert math.isnan(out["krippendorff_alpha"].iloc[1])
    assert math.isnan(out["union_entropy"].iloc[1])
    with pytest.raises(ValueError, match="unknown measure 'alpha'"):
        AgreementTransformer(measures=["alpha"]).fit_transform(images)
    few = AgreementTransformer(measures="union_entropy", few_masks="nan").fit_transform(
        [images[0][:1]]
    )
    assert np.isnan(few[0, :2]).all() and few[0, 2] == 1


def test_alpha_missing_value_checks():
    values = np.array([[np.nan, 255.0], [255.0, 0.0], [0.0, 0.0]])
    assert krippendorff_alpha(values[:, None]) == pytest.approx(_reference_alpha(values / 255))
    with pytest.raises(ValueError, match=r"NaN marks a missing value\), found \{0.0, 0.5\}"):
        krippendorff_alpha(np.array([[[np.nan, 0.5]], [[0.0, 0.0]]]))
    with pytest.raises(ValueError, match=r"found \{0.0, 1.0, 255.0\}"):
        krippendorff_alpha(np.array([[[np.nan, 1.0]], [[255.0, 0.0]]]))
    with pytest.warns(AlphaUndefinedWarning):
        assert math.isnan(krippendorff_alpha(np.full((2, 1, 3), np.nan)))


@pytest.mark.parametrize("image_id", ["img7", None])
def test_annotator_vs_consensus_messages_name_the_image_when_given(image_id):
    masks = np.zeros((3, 6, 6), bool)
    masks[1:, 1:4, 1:4] = True
    prefix = "" if image_id is None else f"image {image_id}: "
    with pytest.warns(EmptyMaskWarning) as record:
        annotator_vs_consensus(masks, method="majority", metrics=["hd95"], image_id=image_id)
    where = "" if image_id is None else f"image {image_id}, "
    assert str(record[0].message).startswith(
        f"{where}mask 0 and the consensus of the others: one mask is empty"
    )
    with pytest.raises(ValueError) as exc:
        annotator_vs_consensus(masks * 3, image_id=image_id)
    assert str(exc.value) == (
        f"{prefix}mask 1: mask values must be {{0, 1}} or {{0, 255}}, found {{0, 3}}"
    )
    with pytest.raises(ValueError) as exc:
        annotator_vs_consensus(masks, ["A", "B", "C"], exclude=["B", "C"], image_id=image_id)
    assert str(exc.value) == (
        f"{prefix}annotator_vs_consensus needs at least 2 annotator masks, got 1"
    )
    # The options are checked before any mask is read, even with one annotator left.
    with pytest.raises(ValueError, match="^empty must be 'nan' or 'worst', got 'bad'$"):
        annotator_vs_consensus(masks, ["A", "A", "A"], empty="bad", image_id=image_id)


def test_unbiased_ged_names_the_set_with_one_mask():
    two = np.zeros((2, 4, 4), bool)
    two[1, 1:3, 1:3] = True
    for samples, annotators, name in ((two[:1], two, "samples"), (two, two[:1], "annotators")):
        with pytest.raises(ValueError) as exc:
            generalized_energy_distance(samples, annotators, unbiased=True)
        assert str(exc.value) == f"unbiased=True needs at least 2 {name}, got 1"


def test_pairwise_empty_mask_warning_has_no_image_prefix_without_an_id():
    masks = np.zeros((2, 5, 5), bool)
    masks[0, 1:3, 1:3] = True
    with pytest.warns(EmptyMaskWarning) as record:
        pairwise_agreement(masks, ["hd95"])
    assert str(record[0].message).startswith("masks 0 and 1: one mask is empty")


@pytest.mark.parametrize(
    ("naming", "id_name", "dice"),
    [("skiaa", "image_id", "dice"), ("release", "img_id", "dice_score")],
)
def test_image_agreement_of_one_image_without_an_id(naming, id_name, dice):
    masks = np.zeros((3, 6, 6), bool)
    masks[:, 1:4, 1:4] = True
    masks[2, 4, 1:4] = True
    pairs = pairwise_agreement(masks, ["dice", "hd95"], naming=naming)
    summary = image_agreement(pairs)
    # One image, numbered 0, under the naming's id column; the release's names kept.
    assert summary.index.tolist() == [0] and summary.index.name == id_name
    assert summary[f"{dice}_mean"].iloc[0] == pytest.approx(pairs[dice].mean())
    assert summary["n_pairs"].dtype == np.int64 and summary["n_pairs"].iloc[0] == 3


# --------------------------------------------------------------------------- #
# The whole-stack measures of one image (what the transformer's columns hold)
# --------------------------------------------------------------------------- #
@given(stack=stacks(max_k=4, max_side=6, ndim=3) | stacks(max_k=5, max_side=7))
def test_image_measures_equal_their_definitions(stack):
    from skiaa.agreement._multirater import image_measures

    measures = ("union_entropy", "krippendorff_alpha", "annotator_diversity")
    values, undefined = image_measures(stack, measures)
    entropy, alpha, diversity = values
    # Alpha as the reference package computes it over the pixels; undefined
    # (NaN, and said so) when every annotator gives every pixel one value.
    k = len(stack)
    assert undefined is (not _both_values(stack))
    if undefined:
        assert math.isnan(alpha)
    else:
        assert alpha == pytest.approx(_reference_alpha(stack.reshape(k, -1)), abs=1e-12)
    # Diversity: mean IoU distance over all k x k ordered pairs of masks, each
    # with itself included (1 - |A & B| / |A | B|, 0 when both are empty).
    pairs = []
    for a, b in itertools.product(stack, repeat=2):
        union = np.count_nonzero(a | b)
        pairs.append(1.0 - np.count_nonzero(a & b) / union if union else 0.0)
    assert diversity == pytest.approx(np.mean(pairs), abs=1e-12)
    # Entropy in bits of the fraction of annotators marking each pixel, over
    # the pixels any of them marked; NaN when none did.
    p = stack.mean(axis=0)[stack.any(axis=0)]
    if p.size == 0:
        assert math.isnan(entropy)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            bits = -(
                np.where(p > 0, p * np.log2(p), 0.0)
                + np.where(p < 1, (1 - p) * np.log2(1 - p), 0.0)
            )
        assert entropy == pytest.approx(bits.mean(), abs=1e-12)
    # One measure alone is the same number, and alpha alone decides the flag.
    for name, value in zip(measures, values):
        alone, flag = image_measures(stack, (name,))
        np.testing.assert_array_equal(alone, [value])
        assert flag is (undefined and name == "krippendorff_alpha")
