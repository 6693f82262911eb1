"""Pairwise agreement metrics, pairs tables and per-image summaries (skiaa.agreement)."""

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from medpy.metric import binary as medpy_binary

from skiaa.agreement import (
    DEFAULT_METRICS,
    METRICS,
    RELEASE_NAMES,
    EmptyMaskWarning,
    _metrics,
    assd,
    boundary_f1,
    dice,
    hausdorff,
    hd95,
    image_agreement,
    jaccard,
    pairwise_agreement,
    surface_dice,
)

DISTANCES = {"hausdorff": hausdorff, "hd95": hd95, "assd": assd}
MEDPY = {"hausdorff": medpy_binary.hd, "hd95": medpy_binary.hd95, "assd": medpy_binary.assd}


# --------------------------------------------------------------------------- #
# Strategies
# --------------------------------------------------------------------------- #
@st.composite
def mask_pairs(draw, min_side=1, max_side=14, nonempty=True):
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    a = draw(arrays(bool, (h, w)))
    b = draw(arrays(bool, (h, w)))
    if nonempty:
        assume(a.any() and b.any())
    return a, b


spacings = st.one_of(
    st.none(),
    st.tuples(st.floats(0.25, 4.0), st.floats(0.25, 4.0)),
)


# --------------------------------------------------------------------------- #
# Brute-force reference: pixel sets and all-pairs distances
# --------------------------------------------------------------------------- #
def _reference_border(mask):
    """Border by definition: a foreground pixel with a 4-neighbour off the mask or image."""
    h, w = mask.shape
    points = []
    for y, x in itertools.product(range(h), range(w)):
        if not mask[y, x]:
            continue
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            yy, xx = y + dy, x + dx
            if not (0 <= yy < h and 0 <= xx < w) or not mask[yy, xx]:
                points.append((y, x))
                break
    return np.array(points, dtype=float).reshape(-1, 2)


def _reference_directed(a, b, spacing):
    # A distance is sqrt(sum((step * spacing) ** 2)) over the integer step
    # between two pixels, as scipy's distance transform (and so medpy, MONAI and
    # surface-distance) computes it: scaling the coordinates before subtracting
    # them rounds differently in the last bit, which decides "distance <=
    # tolerance" when a tolerance equals a step's length.
    scale = np.ones(2) if spacing is None else np.asarray(spacing)
    pa, pb = _reference_border(a), _reference_border(b)
    diff = (pa[:, None, :] - pb[None, :, :]) * scale
    return np.sqrt((diff**2).sum(-1)).min(axis=1)


def _reference(a, b, spacing=None, tolerance=1.0):
    set_a = {tuple(p) for p in np.argwhere(a)}
    set_b = {tuple(p) for p in np.argwhere(b)}
    d12 = _reference_directed(a, b, spacing)
    d21 = _reference_directed(b, a, spacing)
    both = np.concatenate([d12, d21])
    precision, recall = np.mean(d12 <= tolerance), np.mean(d21 <= tolerance)
    return {
        "dice": 2 * len(set_a & set_b) / (len(set_a) + len(set_b)),
        "jaccard": len(set_a & set_b) / len(set_a | set_b),
        "hausdorff": both.max(),
        "hd95": np.percentile(both, 95),
        "assd": both.mean(),
        "surface_dice": np.mean(both <= tolerance),
        "boundary_f1": (
            0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        ),
    }


# --------------------------------------------------------------------------- #
# Equality with medpy and with the brute-force reference
# --------------------------------------------------------------------------- #
@given(mask_pairs(), spacings)
def test_equals_medpy(pair, spacing):
    a, b = pair
    assert dice(a, b) == pytest.approx(medpy_binary.dc(a, b), abs=1e-12)
    assert jaccard(a, b) == pytest.approx(medpy_binary.jc(a, b), abs=1e-12)
    for name, func in DISTANCES.items():
        expected = MEDPY[name](a, b, voxelspacing=spacing)
        assert func(a, b, spacing=spacing) == pytest.approx(expected, abs=1e-6), name


def test_equals_medpy_on_lesion_like_masks():
    # Larger smooth masks than hypothesis draws: two overlapping rotated ellipses,
    # one touching the image edge (the edge counts as background in the border).
    yy, xx = np.mgrid[:120, :160]
    a = ((yy - 60) / 40.0) ** 2 + ((xx - 70) / 55.0) ** 2 <= 1
    b = ((yy - 70) / 50.0) ** 2 + ((xx - 95) / 70.0) ** 2 <= 1
    for name, func in DISTANCES.items():
        for spacing in (None, (0.5, 1.5)):
            expected = MEDPY[name](a, b, voxelspacing=spacing)
            assert func(a, b, spacing=spacing) == pytest.approx(expected, abs=1e-6)


@given(mask_pairs(max_side=10), spacings, st.floats(0.0, 3.0))
def test_equals_brute_force_reference(pair, spacing, tolerance):
    a, b = pair
    ref = _reference(a, b, spacing, tolerance)
    assert dice(a, b) == pytest.approx(ref["dice"], abs=1e-12)
    assert jaccard(a, b) == pytest.approx(ref["jaccard"], abs=1e-12)
    for name, func in DISTANCES.items():
        assert func(a, b, spacing=spacing) == pytest.approx(ref[name], abs=1e-9), name
    assert surface_dice(a, b, tolerance, spacing=spacing) == pytest.approx(
        ref["surface_dice"], abs=1e-12
    )
    assert boundary_f1(a, b, tolerance, spacing=spacing) == pytest.approx(
        ref["boundary_f1"], abs=1e-12
    )


@pytest.mark.parametrize("shape", [(8, 8), (7, 9), (1, 1), (3, 5, 4)])
def test_overlap_counts_with_padding_and_lookup_table(shape):
    # Sizes that are not multiples of 64 bits exercise the zero padding of the
    # packed words; the lookup-table popcount (numpy < 2) must agree with numpy's.
    rng = np.random.default_rng(1)
    a, b = rng.random(shape) < 0.5, rng.random(shape) < 0.4
    packed = _metrics._pack(a & b)
    assert _metrics._popcount_lut(packed) == np.count_nonzero(a & b)
    assert _metrics._popcount(packed) == np.count_nonzero(a & b)
    if a.any() or b.any():
        assert dice(a, b) == pytest.approx(medpy_binary.dc(a, b), abs=1e-12)


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #
@given(mask_pairs(), spacings)
def test_symmetry_and_bounds(pair, spacing):
    a, b = pair
    for func in (dice, jaccard):
        value = func(a, b)
        assert value == func(b, a)
        assert 0.0 <= value <= 1.0
    for func in (surface_dice, boundary_f1):
        value = func(a, b, 1.5, spacing=spacing)
        assert value == pytest.approx(func(b, a, 1.5, spacing=spacing), abs=1e-12)
        assert 0.0 <= value <= 1.0
    hd = hausdorff(a, b, spacing=spacing)
    assert hd == hausdorff(b, a, spacing=spacing)
    assert hd95(a, b, spacing=spacing) == pytest.approx(hd95(b, a, spacing=spacing), abs=1e-12)
    assert assd(a, b, spacing=spacing) == pytest.approx(assd(b, a, spacing=spacing), abs=1e-12)
    assert 0.0 <= assd(a, b, spacing=spacing) <= hd + 1e-12
    assert 0.0 <= hd95(a, b, spacing=spacing) <= hd + 1e-12
    for name in DISTANCES:
        normalized = DISTANCES[name](a, b, spacing=spacing, normalize=True)
        assert 0.0 <= normalized <= 1.0


@given(mask_pairs())
def test_identity(pair):
    a, _ = pair
    assert dice(a, a) == 1.0
    assert jaccard(a, a) == 1.0
    assert hausdorff(a, a) == 0.0
    assert hd95(a, a) == 0.0
    assert assd(a, a) == 0.0
    assert surface_dice(a, a, 0.0) == 1.0
    assert boundary_f1(a, a, 0.0) == 1.0


@given(mask_pairs(nonempty=False))
def test_jaccard_is_dice_over_two_minus_dice(pair):
    a, b = pair
    d = dice(a, b)
    assert jaccard(a, b) == pytest.approx(d / (2 - d), abs=1e-12)


@given(mask_pairs(max_side=10), st.integers(0, 6), st.integers(0, 6), spacings)
def test_distances_are_translation_invariant(pair, dy, dx, spacing):
    # Embedding both masks at another offset in a larger canvas moves every border
    # pixel by the same vector (outside the image already counted as background).
    a, b = pair
    h, w = a.shape

    def shifted(mask):
        canvas = np.zeros((h + 6, w + 6), bool)
        canvas[dy : dy + h, dx : dx + w] = mask
        return canvas

    for name, func in DISTANCES.items():
        assert func(shifted(a), shifted(b), spacing=spacing) == pytest.approx(
            func(a, b, spacing=spacing), abs=1e-9
        ), name
    assert dice(shifted(a), shifted(b)) == dice(a, b)


@given(
    arrays(bool, st.tuples(st.integers(2, 5), st.integers(3, 9), st.integers(3, 9))),
    st.randoms(use_true_random=False),
)
def test_image_means_do_not_depend_on_mask_order(stack, rnd):
    assume(all(mask.any() for mask in stack))
    order = list(range(stack.shape[0]))
    rnd.shuffle(order)
    first = image_agreement(pairwise_agreement(stack, METRICS, image_id="x"), statistics="mean")
    second = image_agreement(
        pairwise_agreement(stack[order], METRICS, image_id="x"), statistics="mean"
    )
    pd.testing.assert_frame_equal(first, second, atol=1e-12, rtol=0)


def test_spacing_scales_distances_and_diagonal():
    yy, xx = np.mgrid[:30, :40]
    a = ((yy - 15) / 9.0) ** 2 + ((xx - 18) / 12.0) ** 2 <= 1
    b = ((yy - 14) / 10.0) ** 2 + ((xx - 22) / 11.0) ** 2 <= 1
    for func in DISTANCES.values():
        assert func(a, b, spacing=2.5) == pytest.approx(2.5 * func(a, b), rel=1e-12)
        # The release divides by the image diagonal sqrt(H^2 + W^2) (50 here).
        assert func(a, b, normalize=True) == pytest.approx(func(a, b) / 50.0, rel=1e-12)
        physical = math.hypot(30 * 0.5, 40 * 2.0)
        assert func(a, b, spacing=(0.5, 2.0), normalize=True) == pytest.approx(
            func(a, b, spacing=(0.5, 2.0)) / physical, rel=1e-12
        )


def test_accepts_0_1_and_0_255_masks():
    a = np.zeros((6, 6), np.uint8)
    a[1:4, 1:4] = 255
    b = np.zeros((6, 6), int)
    b[2:5, 2:5] = 1
    assert dice(a, b) == pytest.approx(medpy_binary.dc(a > 0, b > 0))
    assert hausdorff(a, b) == pytest.approx(medpy_binary.hd(a > 0, b > 0))


# --------------------------------------------------------------------------- #
# Empty-mask convention (documented in the module docstring)
# --------------------------------------------------------------------------- #
def test_both_empty_is_perfect_agreement():
    empty = np.zeros((5, 5), bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the value is defined (a == b)
        # medpy's jc gives 1 too; its dc meant 1 but gives NaN under numpy >= 2.
        assert dice(empty, empty) == 1.0
        assert jaccard(empty, empty) == 1.0 == medpy_binary.jc(empty, empty)
        for func in DISTANCES.values():
            assert func(empty, empty) == 0.0
        assert surface_dice(empty, empty) == 1.0
        assert boundary_f1(empty, empty) == 1.0


def test_one_empty_gives_nan_distances_with_a_warning():
    empty = np.zeros((5, 5), bool)
    full = np.zeros((5, 5), bool)
    full[1:3, 1:3] = True
    assert dice(empty, full) == 0.0
    assert jaccard(full, empty) == 0.0
    assert surface_dice(full, empty) == 0.0
    assert boundary_f1(empty, full) == 0.0
    for func in DISTANCES.values():
        with pytest.warns(EmptyMaskWarning, match="one mask is empty"):
            assert math.isnan(func(empty, full))
        with pytest.warns(EmptyMaskWarning):
            assert math.isnan(func(full, empty, normalize=True))


def test_empty_mask_nan_reaches_the_image_summary():
    masks = np.zeros((3, 6, 6), bool)
    masks[0, 1:4, 1:4] = masks[1, 2:5, 2:5] = True  # mask 2 is empty
    with pytest.warns(EmptyMaskWarning) as record:
        pairs = pairwise_agreement(masks, image_id="img7")
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2
    assert messages[0].startswith("image img7, masks 0 and 2: one mask is empty")
    assert messages[1].startswith("image img7, masks 1 and 2: one mask is empty")
    assert pairs["hausdorff"].isna().sum() == 2
    summary = image_agreement(pairs)
    assert math.isnan(summary.loc["img7", "hausdorff_mean"])
    # Dice is defined for every pair, so its mean is not NaN.
    assert summary.loc["img7", "dice_mean"] == pytest.approx(pairs["dice"].mean())


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #
def test_pair_validation_errors():
    a = np.zeros((4, 4), bool)
    with pytest.raises(ValueError, match="same shape"):
        dice(a, np.zeros((4, 5), bool))
    with pytest.raises(ValueError, match="mask2: mask values"):
        hausdorff(a, np.full((4, 4), 3))
    with pytest.raises(ValueError, match="spacing"):
        hausdorff(a, a, spacing=(1.0, -1.0))
    with pytest.raises(ValueError, match="spacing"):
        hausdorff(a, a, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="tolerance"):
        surface_dice(a, a, tolerance=-1)
    with pytest.raises(ValueError, match="tolerance"):
        boundary_f1(a, a, tolerance="2")


# --------------------------------------------------------------------------- #
# pairwise_agreement
# --------------------------------------------------------------------------- #
@pytest.fixture
def four_masks():
    yy, xx = np.mgrid[:24, :32]
    centres = [(12, 16), (11, 17), (13, 14), (12, 18)]
    radii = [(7, 9), (8, 9), (6, 10), (7, 11)]
    return np.stack(
        [
            ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            for (cy, cx), (ry, rx) in zip(centres, radii)
        ]
    )


def test_pairwise_agreement_rows_and_values(four_masks):
    pairs = pairwise_agreement(four_masks, METRICS, tolerance=1.0)
    assert list(pairs.columns) == ["index1", "index2", *METRICS]
    assert list(zip(pairs.index1, pairs.index2)) == list(itertools.combinations(range(4), 2))
    for row in pairs.itertuples():
        a, b = four_masks[row.index1], four_masks[row.index2]
        assert row.dice == pytest.approx(medpy_binary.dc(a, b), abs=1e-12)
        assert row.jaccard == pytest.approx(medpy_binary.jc(a, b), abs=1e-12)
        assert row.hausdorff == pytest.approx(medpy_binary.hd(a, b), abs=1e-9)
        assert row.hd95 == pytest.approx(medpy_binary.hd95(a, b), abs=1e-9)
        assert row.assd == pytest.approx(medpy_binary.assd(a, b), abs=1e-9)
        assert row.hd95_normalized == pytest.approx(medpy_binary.hd95(a, b) / 40.0, abs=1e-12)
        assert row.surface_dice == surface_dice(a, b, 1.0)
        assert row.boundary_f1 == boundary_f1(a, b, 1.0)


def test_pairwise_agreement_labels_and_release_naming(four_masks):
    names = [f"ISIC_0000001_A0{i}_T1_S1_x.png" for i in range(4)]
    annotators = ["A00", "A01", "ST", "MV"]
    pairs = pairwise_agreement(
        list(four_masks), names=names, annotators=annotators, image_id="ISIC_0000001.JPG"
    )
    assert list(pairs.columns[:7]) == [
        "image_id",
        "index1",
        "index2",
        "mask1",
        "mask2",
        "annotator1",
        "annotator2",
    ]
    assert list(pairs.columns[7:]) == list(DEFAULT_METRICS)
    assert pairs.loc[5, "mask1"] == names[2] and pairs.loc[5, "annotator2"] == "MV"
    release = pairwise_agreement(
        four_masks,
        names=names,
        annotators=annotators,
        image_id="ISIC_0000001.JPG",
        naming="release",
    )
    assert "img_id" in release.columns and "dice_score" in release.columns
    assert "hd95_score_normalized" in release.columns
    np.testing.assert_allclose(release["hd_score"], pairs["hausdorff"])
    # The one mapping translates back and forth.
    assert release.rename(columns={v: k for k, v in RELEASE_NAMES.items()}).equals(pairs)


def test_names_and_annotators_are_kept_as_given_and_checked_by_name(four_masks):
    # Annotator ids are often integers (IMA++'s are): they stay integers beside
    # strings, not the strings numpy would turn a mixed list into.
    names, annotators = ["a", 2, 3.5, "d"], [7, "b", 7, 12]
    pairs = pairwise_agreement(four_masks, ["dice"], names=names, annotators=annotators)
    i, j = pairs["index1"].to_numpy(), pairs["index2"].to_numpy()
    for column, values, index in [
        ("mask1", names, i),
        ("mask2", names, j),
        ("annotator1", annotators, i),
        ("annotator2", annotators, j),
    ]:
        expected = [values[k] for k in index]
        assert pairs[column].tolist() == expected
        assert [type(v) for v in pairs[column]] == [type(v) for v in expected]
    for what in ("names", "annotators"):
        with pytest.raises(
            ValueError, match=rf"^{what} must have one entry per mask \(4\), got 3$"
        ):
            pairwise_agreement(four_masks, ["dice"], **{what: [1, 2, 3]})


def test_pairwise_agreement_accepts_release_metric_names(four_masks):
    pairs = pairwise_agreement(four_masks, ["dice_score", "hd_score_normalized"])
    assert list(pairs.columns[2:]) == ["dice", "hausdorff_normalized"]


def test_pairwise_agreement_errors(four_masks):
    with pytest.raises(ValueError, match="needs at least 2 masks"):
        pairwise_agreement(four_masks[:1])
    with pytest.raises(ValueError, match="image im3: all masks"):
        pairwise_agreement([four_masks[0], four_masks[1][:-1]], image_id="im3")
    with pytest.raises(ValueError, match="unknown metric 'dise'.*Did you mean 'dice'"):
        pairwise_agreement(four_masks, ["dise"])
    with pytest.raises(ValueError, match="names must have one entry per mask"):
        pairwise_agreement(four_masks, names=["a"])
    with pytest.raises(ValueError, match="naming"):
        pairwise_agreement(four_masks, naming="medpy")
    with pytest.raises(ValueError, match="at least one metric"):
        pairwise_agreement(four_masks, [])


_CHOOSE_FROM = f"choose from {', '.join(METRICS)}."


@pytest.mark.parametrize(
    "name, hint",
    [
        # The three closest names, closest first; none when nothing is close.
        (
            "hd95_normalised",
            " Did you mean 'hd95_normalized', 'hd95_score_normalized', 'assd_normalized'?",
        ),
        ("hausdorf", " Did you mean 'hausdorff'?"),
        ("xyz", ""),
        # Not a string: named as given, never looked up as a release name.
        (["dice"], " Did you mean 'dice'?"),
    ],
)
def test_unknown_metric_message_is_exact(four_masks, name, hint):
    message = f"unknown metric {name!r}; {_CHOOSE_FROM}{hint}"
    with pytest.raises(ValueError) as info:
        pairwise_agreement(four_masks, [name])
    assert str(info.value) == message


@pytest.mark.parametrize(
    "masks, image_id, spacing",
    [
        ([np.ones((4, 5), bool)] * 2, None, (1.0, 1.0, 1.0)),
        ([np.ones((4, 5), bool)] * 2, "im7", (1.0, 0.0)),
        # Zero-size masks still have a dimension to check the spacing against.
        ([np.zeros((0, 5), bool)] * 2, None, (1.0, 1.0, 1.0)),
    ],
)
def test_a_spacing_that_does_not_fit_the_masks_is_refused_naming_the_image(
    masks, image_id, spacing
):
    shape = masks[0].shape
    where = f"image {image_id}: " if image_id is not None else ""
    message = (
        f"{where}spacing must be one positive number or 2 positive numbers (one per axis), "
        f"got {spacing} for masks of shape {shape}"
    )
    with pytest.raises(ValueError) as info:
        pairwise_agreement(masks, ["dice"], spacing=spacing, image_id=image_id)
    assert str(info.value) == message


def test_pairs_table_area_weighted_hd95_equals_the_pair_metric(four_masks):
    metrics = ["hd95", "hd95_normalized"]
    pairs = pairwise_agreement(four_masks, metrics, hd_percentile="area_weighted")
    for i, j, value, normalized in pairs[["index1", "index2", *metrics]].itertuples(index=False):
        want = hd95(four_masks[i], four_masks[j], hd_percentile="area_weighted")
        assert value == want
        assert normalized == pytest.approx(want / np.hypot(*four_masks[i].shape), rel=1e-12)


# --------------------------------------------------------------------------- #
# image_agreement
# --------------------------------------------------------------------------- #
def test_image_agreement_excludes_consensus_and_uses_sample_std(four_masks):
    pairs = pd.concat(
        [
            pairwise_agreement(four_masks, annotators=["A1", "A2", "A3", "ST"], image_id="b"),
            pairwise_agreement(four_masks[:2], annotators=["A1", "A1"], image_id="a"),
        ]
    )
    summary = image_agreement(pairs, ["dice", "hd95"], statistics=["mean", "std", "min", "max"])
    assert list(summary.index) == ["a", "b"]
    assert summary.index.name == "image_id"
    kept = pairs[(pairs.image_id == "b") & (pairs.annotator2 != "ST")]
    assert len(kept) == 3 and summary.loc["b", "n_pairs"] == 3
    assert summary.loc["b", "dice_mean"] == pytest.approx(np.mean(kept.dice))
    assert summary.loc["b", "dice_std"] == pytest.approx(np.std(kept.dice, ddof=1))
    assert summary.loc["b", "hd95_max"] == kept.hd95.max()
    assert summary.loc["b", "hd95_min"] == kept.hd95.min()
    # A single pair (two masks by one annotator, kept): std undefined, as in the release.
    assert summary.loc["a", "n_pairs"] == 1 and math.isnan(summary.loc["a", "dice_std"])
    assert list(summary.columns) == [
        f"{m}_{s}" for m in ("dice", "hd95") for s in ("mean", "std", "min", "max")
    ] + ["n_pairs"]


@pytest.mark.parametrize("code", ["ST", "MV"])
def test_image_agreement_drops_consensus_in_either_column(four_masks, code):
    # The consensus mask listed first: its pairs have it as annotator1, and a
    # check of annotator2 alone would keep them.
    pairs = pairwise_agreement(four_masks, ["dice"], annotators=[code, "A1", "A2", "A3"])
    assert (pairs["annotator1"] == code).sum() == 3 and (pairs["annotator2"] == code).sum() == 0
    summary = image_agreement(pairs, statistics=["mean"])
    annotator_pairs = pairs[(pairs.annotator1 != code) & (pairs.annotator2 != code)]
    assert len(annotator_pairs) == 3
    assert summary["n_pairs"].iloc[0] == 3
    assert summary["dice_mean"].iloc[0] == pytest.approx(annotator_pairs["dice"].mean())
    assert summary["dice_mean"].iloc[0] != pytest.approx(pairs["dice"].mean())
    # Release naming, consensus first in some rows and second in others.
    release = pd.DataFrame(
        {
            "img_id": ["x"] * 4,
            "annotator1": [code, "A01", "A01", "A02"],
            "annotator2": ["A01", code, "A02", "A03"],
            "dice_score": [0.1, 0.2, 0.8, 0.6],
        }
    )
    summary = image_agreement(release)
    assert summary.loc["x", "n_pairs"] == 2
    assert summary.loc["x", "dice_score_mean"] == pytest.approx(0.7)


def test_image_agreement_without_image_column_is_one_image(four_masks):
    summary = image_agreement(pairwise_agreement(four_masks, ["dice"]), statistics="median")
    assert summary.shape == (1, 2)
    assert summary["dice_median"].iloc[0] == pytest.approx(
        pairwise_agreement(four_masks, ["dice"])["dice"].median()
    )


def test_image_agreement_errors(four_masks):
    pairs = pairwise_agreement(four_masks, ["dice"])
    with pytest.raises(ValueError, match="no column for metric 'hd95'"):
        image_agreement(pairs, ["hd95"])
    with pytest.raises(ValueError, match="statistics"):
        image_agreement(pairs, statistics=["mode"])
    with pytest.raises(ValueError, match="no metric column"):
        image_agreement(pairs[["index1", "index2"]])
    with pytest.raises(ValueError, match="DataFrame"):
        image_agreement(pairs.to_numpy())


# --------------------------------------------------------------------------- #
# The real IMA++ tables
# --------------------------------------------------------------------------- #
def test_reproduces_release_image_level_table(imaplusplus_dir):
    pairs = pd.read_csv(imaplusplus_dir / "IMAplusplus_multiannotator_subset_IAA_metrics.csv")
    expected = pd.read_csv(
        imaplusplus_dir / "IMAplusplus_multiannotator_subset_image_level_metrics.csv"
    ).set_index("img_id")
    summary = image_agreement(pairs)
    assert list(summary.index) == list(expected.index)
    assert len(expected.columns) == 12
    for column in expected.columns:
        np.testing.assert_allclose(
            summary[column].to_numpy(),
            expected[column].to_numpy(),
            rtol=0,
            atol=1e-9,
            err_msg=column,
        )
    # Single-pair images have a NaN std in the release, and only those.
    single = summary["n_pairs"] == 1
    assert expected.loc[single, "dice_score_std"].isna().all()
    assert expected.loc[~single, "dice_score_std"].notna().all()


def test_release_normalises_by_the_image_diagonal(imaplusplus_dir):
    pairs = pd.read_csv(imaplusplus_dir / "IMAplusplus_multiannotator_subset_IAA_metrics.csv")
    meta = pd.read_csv(
        imaplusplus_dir / "IMAplusplus_img_metadata.csv",
        usecols=["isic_id", "pixels_x", "pixels_y"],
    )
    pairs["isic_id"] = pairs["img_id"].str.split(".").str[0]
    merged = pairs.merge(meta, on="isic_id", how="left", validate="many_to_one")
    diagonal = np.hypot(merged["pixels_x"], merged["pixels_y"])
    for name in ("hd_score", "hd95_score", "assd_score"):
        ok = merged[name] > 0
        ratio = merged.loc[ok, name] / merged.loc[ok, f"{name}_normalized"]
        np.testing.assert_allclose(ratio, diagonal[ok], rtol=1e-9)


@given(arrays(bool, st.tuples(st.integers(1, 40), st.integers(1, 40))))
def test_packed_border_equals_boolean_border(mask):
    # The fast 2-D path (erosion on row-packed bits, widths not multiples of 8
    # included) must find the same pixels, in the same order, as the n-D path.
    packed = np.packbits(mask, axis=1)
    np.testing.assert_array_equal(
        _metrics._border_points_2d(packed), _metrics._border_points(mask)
    )


def test_three_d_masks_equal_medpy():
    rng = np.random.default_rng(5)
    zz, yy, xx = np.mgrid[:12, :14, :16]
    a = (zz - 6) ** 2 + (yy - 7) ** 2 + (xx - 8) ** 2 <= 20
    b = a ^ (rng.random(a.shape) < 0.05)
    for name, func in DISTANCES.items():
        for spacing in (None, (2.0, 1.0, 0.5)):
            expected = MEDPY[name](a, b, voxelspacing=spacing)
            assert func(a, b, spacing=spacing) == pytest.approx(expected, abs=1e-9), name
