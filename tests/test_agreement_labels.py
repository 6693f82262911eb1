"""Label maps (several classes per mask): per-class metrics against MONAI and against the
binary metrics on each class, generalized Dice, the tables and the transformer."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from _helpers import examples
from skiaa.agreement import (
    AgreementTransformer,
    AlphaUndefinedWarning,
    EmptyMaskWarning,
    assd,
    boundary_f1,
    dice,
    generalized_dice,
    generalized_energy_distance,
    hausdorff,
    hd95,
    image_agreement,
    jaccard,
    krippendorff_alpha,
    majority_vote,
    pairwise_agreement,
    staple,
    surface_dice,
)
from skiaa.agreement._metrics import _border_points, _class_border_points, _class_index
from skiaa.agreement._surfels import class_surface_elements, surface_elements

PER_CLASS = {
    "dice": dice,
    "jaccard": jaccard,
    "hausdorff": hausdorff,
    "hd95": hd95,
    "assd": assd,
    "surface_dice": surface_dice,
    "boundary_f1": boundary_f1,
}


def _blobs(rng, shape, n_classes=3, fraction=0.12):
    """A label map of smooth random blobs, one class per blob family (later ones on top)."""
    out = np.zeros(shape, dtype=np.uint8)
    for c in range(1, n_classes + 1):
        field = ndimage.gaussian_filter(rng.random(shape), 2.0)
        out[field > np.quantile(field, 1 - fraction)] = c
    return out


@st.composite
def map_pairs(draw, ndim):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    sides = (8, 24) if ndim == 3 else (12, 48)
    shape = tuple(draw(st.integers(*sides)) for _ in range(ndim))
    spacing = tuple(draw(st.floats(0.3, 3.0)) for _ in range(ndim))
    return _blobs(rng, shape), _blobs(rng, shape), spacing


# --------------------------------------------------------------------------- #
# Each class equals the binary metric on ``map == class``
# --------------------------------------------------------------------------- #
@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=map_pairs(ndim=2), labels=st.sampled_from([[1, 2, 3], [3, 1], [2, 5], [0, 1]]))
def test_each_class_equals_binary_metric_on_its_mask(data, labels):
    a, b, spacing = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyMaskWarning)
        for name, func in PER_CLASS.items():
            kwargs = {} if name in ("dice", "jaccard") else {"spacing": spacing}
            got = func(a, b, labels=labels, **kwargs)
            assert got.shape == (len(labels),)
            want = [func(a == c, b == c, **kwargs) for c in labels]
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=name)


@settings(max_examples=examples(30), deadline=None)
@given(data=map_pairs(ndim=3))
def test_one_pass_borders_equal_each_class_border(data):
    labelmap, _, _ = data
    labels = np.array([3, 1, 2, 7])
    index = _class_index(labelmap, labels)
    borders = _class_border_points(index, len(labels))
    for c, value in enumerate(labels):
        np.testing.assert_array_equal(borders[c], _border_points(labelmap == value))


@settings(max_examples=examples(30), deadline=None)
@given(data=st.one_of(map_pairs(ndim=2), map_pairs(ndim=3)))
def test_one_pass_surfels_equal_each_class_surfels(data):
    labelmap, _, spacing = data
    labels = np.array([3, 1, 2, 7])
    elements = class_surface_elements(_class_index(labelmap, labels), len(labels), spacing)
    assert len(elements) == len(labels)
    for (vertices, areas), value in zip(elements, labels):
        want_vertices, want_areas = surface_elements(labelmap == value, spacing)
        np.testing.assert_array_equal(vertices, want_vertices)
        np.testing.assert_allclose(areas, want_areas, rtol=1e-12, atol=0)


def test_labels_all_is_every_nonzero_value_of_either_map_in_order():
    a = np.array([[0, 4, 4], [2, 2, 0]])
    b = np.array([[0, 4, 9], [2, 0, 0]])
    np.testing.assert_allclose(dice(a, b, labels="all"), dice(a, b, labels=[2, 4, 9]))
    assert dice(a, b, labels="all").shape == (3,)
    # The pairs table too: its columns are the classes found.
    pd.testing.assert_frame_equal(
        pairwise_agreement(np.stack([a, b]), ["dice", "jaccard"], labels="all"),
        pairwise_agreement(np.stack([a, b]), ["dice", "jaccard"], labels=[2, 4, 9]),
    )


# --------------------------------------------------------------------------- #
# Against MONAI (float32: compared at 1e-5)
# --------------------------------------------------------------------------- #
def _monai_values(a, b, labels, spacing, tolerance):
    metrics = pytest.importorskip("monai.metrics", reason="MONAI reference (the 'test' extra)")
    torch = pytest.importorskip("torch")

    def one_hot(m):
        return torch.from_numpy(np.stack([m == c for c in labels])[None].astype(np.float32))

    pred, ref = one_hot(a), one_hot(b)
    sp = list(spacing)
    common = {"include_background": True, "spacing": sp}
    return {
        "dice": metrics.compute_dice(pred, ref),
        "jaccard": metrics.compute_iou(pred, ref),
        "hausdorff": metrics.compute_hausdorff_distance(pred, ref, **common),
        "hd95": metrics.compute_hausdorff_distance(pred, ref, percentile=95, **common),
        "assd": metrics.compute_average_surface_distance(pred, ref, symmetric=True, **common),
        "surface_dice": metrics.compute_surface_dice(
            pred, ref, class_thresholds=[tolerance] * len(labels), **common
        ),
        "generalized_dice": metrics.compute_generalized_dice(pred, ref, sum_over_classes=True),
    }


@pytest.mark.parametrize("ndim", [2, 3])
@settings(max_examples=examples(8), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_per_class_metrics_equal_monai(ndim, data):
    a, b, spacing = data.draw(map_pairs(ndim=ndim))
    labels = [1, 2, 3]
    present = [c for c in labels if (a == c).any() and (b == c).any()]
    # Not a sum of spacing steps: MONAI rounds distances to float32, which decides
    # a distance equal to the tolerance differently from float64.
    tolerance = 1.4142
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI warns on empty classes; skiaa too
        ref = _monai_values(a, b, labels, spacing, tolerance)
    ours = {
        "dice": dice(a, b, labels=labels),
        "jaccard": jaccard(a, b, labels=labels),
        "hausdorff": hausdorff(a, b, labels=labels, spacing=spacing),
        # MONAI takes the larger directed percentile: skiaa's "max".
        "hd95": hd95(a, b, labels=labels, spacing=spacing, hd_percentile="max"),
        "assd": assd(a, b, labels=labels, spacing=spacing),
        "surface_dice": surface_dice(a, b, tolerance, labels=labels, spacing=spacing),
    }
    keep = [labels.index(c) for c in present]
    for name, values in ours.items():
        want = ref[name].numpy().reshape(-1)[keep]
        np.testing.assert_allclose(values[keep], want, rtol=1e-5, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(
        generalized_dice(a, b, labels),
        float(ref["generalized_dice"].reshape(-1)[0]),
        rtol=1e-5,
    )


def test_generalized_dice_equals_monai_with_absent_classes():
    metrics = pytest.importorskip("monai.metrics", reason="MONAI reference (the 'test' extra)")
    torch = pytest.importorskip("torch")
    a = np.array([[1, 1, 2, 0, 3, 3]])
    cases = [
        np.array([[1, 1, 0, 0, 0, 3]]),  # class 2 absent from the reference: largest weight
        np.array([[1, 1, 0, 0, 3, 3]]),  # the same, the largest weight below 1
        np.array([[0, 0, 0, 0, 0, 0]]),  # every class absent: weights 1
        a,
    ]
    for weight in ("square", "simple", "uniform"):
        for b in cases:
            onehot = [
                torch.from_numpy(np.stack([m == c for c in (1, 2, 3)])[None].astype(np.float32))
                for m in (a, b)
            ]
            want = metrics.compute_generalized_dice(
                *onehot, weight_type=weight, sum_over_classes=True
            )
            with warnings.catch_warnings():
                # An absent class's infinite weight is expected, not a warning.
                warnings.simplefilter("error", RuntimeWarning)
                got = generalized_dice(a, b, [1, 2, 3], weight=weight)
            assert got == pytest.approx(float(want.reshape(-1)[0]), rel=1e-6)
    empty = np.zeros((2, 3), np.uint8)
    assert generalized_dice(empty, empty) == 1.0


# --------------------------------------------------------------------------- #
# Absent classes: the binary rules, per class, with a warning naming the class
# --------------------------------------------------------------------------- #
def test_class_absent_from_both_maps_counts_as_equal_masks():
    a = np.array([[1, 1, 0], [0, 0, 0]])
    b = np.array([[1, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(dice(a, b, labels=[1, 2]), [2 / 3, 1.0])
    np.testing.assert_allclose(hausdorff(a, b, labels=[1, 2]), [1.0, 0.0])
    np.testing.assert_allclose(surface_dice(a, b, 0, labels=[1, 2]), [2 / 3, 1.0])


def test_class_in_one_map_only_gives_nan_distances_and_names_the_class():
    a = np.array([[1, 1, 0], [0, 3, 0]])
    b = np.array([[1, 0, 0], [0, 0, 0]])
    with pytest.warns(EmptyMaskWarning, match="label 3: one mask has the class") as record:
        got = hausdorff(a, b, labels=[1, 3])
    assert len(record) == 1
    assert got[0] == 1.0 and np.isnan(got[1])
    assert dice(a, b, labels=[1, 3])[1] == 0.0
    diagonal = np.hypot(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(hausdorff(a, b, labels=[1, 3], empty="worst"), [1.0, diagonal])


def test_label_tables_equal_each_class_alone_with_a_spacing_and_normalized_distances():
    maps = _three_raters(5)
    spacing, labels = (2.5, 0.6), [1, 2, 3]
    metrics = ["dice", "hausdorff", "hd95", "assd", "hausdorff_normalized", "assd_normalized"]
    metrics += ["hd95_normalized", "surface_dice", "boundary_f1"]
    table = pairwise_agreement(maps, metrics, labels=labels, spacing=spacing, tolerance=1.5)
    for c in labels:
        alone = pairwise_agreement(maps == c, metrics, spacing=spacing, tolerance=1.5)
        got = table[[f"{m}_label{c}" for m in metrics]].to_numpy()
        np.testing.assert_allclose(got, alone[metrics].to_numpy(), rtol=1e-12)


def _maps_with_class_3_in_the_first_only():
    a = np.array([[1, 1, 0, 0], [0, 0, 0, 3], [2, 2, 0, 0]])
    b = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [2, 0, 0, 0]])
    return [a, b]


@pytest.mark.parametrize("metric", ["hausdorff", "hd95_normalized", "assd"])
def test_label_tables_warn_of_a_class_in_one_map_naming_the_class_and_the_image(metric):
    maps = _maps_with_class_3_in_the_first_only()
    with pytest.warns(EmptyMaskWarning) as record:
        pairs = pairwise_agreement(maps, [metric], labels=[1, 3], image_id="ISIC_7")
    assert [str(w.message) for w in record] == [
        "image ISIC_7, masks 0 and 1: label 3 is in one mask only: boundary distances "
        "are undefined and returned as NaN"
    ]
    assert np.isnan(pairs[f"{metric}_label3"].iloc[0])


@pytest.mark.parametrize(
    "metrics, empty",
    [(["dice", "surface_dice", "boundary_f1"], "nan"), (["hausdorff", "dice"], "worst")],
)
def test_label_tables_do_not_warn_without_undefined_distances(metrics, empty):
    # Overlap and tolerance scores of a class in one map only are 0, not undefined;
    # with empty="worst" the distance is the image diagonal.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pairs = pairwise_agreement(
            _maps_with_class_3_in_the_first_only(), metrics, labels=[1, 3], empty=empty
        )
    assert not pairs.isna().any().any()


def test_class_zero_is_a_class_like_any_other():
    maps = _three_raters(2)
    np.testing.assert_allclose(
        dice(maps[0], maps[1], labels=[0, 2]),
        [dice(maps[0] == 0, maps[1] == 0), dice(maps[0] == 2, maps[1] == 2)],
    )


def test_labels_all_finds_class_values_past_the_counting_range():
    # Values of 2**20 and more are found by sorting rather than by a count per value.
    big = (1 << 20) + 5
    a = np.array([[0, 3, big], [big, 0, 3]], dtype=np.int64)
    b = np.array([[0, 3, 0], [big, 0, 0]], dtype=np.int64)
    pairs = pairwise_agreement([a, b], ["dice"], labels="all")
    assert list(pairs.columns[2:]) == ["dice", "dice_label3", f"dice_label{big}"]
    np.testing.assert_allclose(pairs.iloc[0, 3:].to_numpy(float), [2 / 3, 2 / 3])
    # Named classes among such values: a value above every named class is no class.
    assert dice(a, b, labels=[3]).tolist() == [dice(a == 3, b == 3)]


@pytest.mark.parametrize(
    "labels, message",
    [
        ([1, 1], "labels must be distinct"),
        ([-1, 2], "non-negative whole numbers"),
        ([1.5], "non-negative whole numbers"),
        ([], "at least one class"),
        ("some", "'all' or a sequence"),
        ([[1, 2]], "'all' or a sequence"),
        (["a", "b"], "non-negative whole numbers"),
    ],
)
def test_bad_labels_are_refused(labels, message):
    a = np.zeros((3, 3), np.uint8)
    with pytest.raises(ValueError, match=message):
        dice(a, a, labels=labels)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([[0, -1], [1, 2]]), "mask2: label values must be non-negative, found -1"),
        (np.array([[0, 0.5], [1, 2]]), "mask2: label values must be whole numbers, found 0.5"),
        (np.array([[0, np.nan], [1, 2]]), "mask2: label values must be whole numbers, found nan"),
        (np.array([["a", "b"], ["c", "d"]]), "mask2: a label map must be numeric"),
    ],
)
def test_bad_label_maps_are_refused_naming_the_mask(bad, message):
    good = np.zeros((2, 2), np.uint8)
    with pytest.raises(ValueError, match=message):
        hd95(good, bad, labels=[1])


def test_label_maps_in_a_stack_name_the_image_and_mask():
    stack = [np.zeros((3, 3), np.uint8), np.full((3, 3), -2)]
    with pytest.raises(ValueError, match=r"image im7: mask 1: label values must be non-negative"):
        pairwise_agreement(stack, ["dice"], labels=[1], image_id="im7")


# --------------------------------------------------------------------------- #
# Tables and the transformer
# --------------------------------------------------------------------------- #
def _three_raters(seed=0, shape=(30, 40)):
    rng = np.random.default_rng(seed)
    return np.stack([_blobs(rng, shape) for _ in range(3)])


def test_pairs_table_has_the_class_mean_then_each_class():
    maps = _three_raters()
    labels = [2, 1, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyMaskWarning)
        pairs = pairwise_agreement(maps, ["dice", "hd95", "generalized_dice"], labels=labels)
    expected = ["index1", "index2", "dice", "dice_label2", "dice_label1", "dice_label3"]
    expected += ["hd95", "hd95_label2", "hd95_label1", "hd95_label3", "generalized_dice"]
    assert list(pairs.columns) == expected
    for row in pairs.itertuples():
        a, b = maps[row.index1], maps[row.index2]
        per_class = dice(a, b, labels=labels)
        np.testing.assert_allclose([row.dice_label2, row.dice_label1, row.dice_label3], per_class)
        assert row.dice == pytest.approx(per_class.mean())
        np.testing.assert_allclose(row.hd95, hd95(a, b, labels=labels).mean())
        # The second mask of the pair is generalized Dice's reference.
        assert row.generalized_dice == pytest.approx(generalized_dice(a, b, labels))


def test_release_naming_of_class_columns_and_image_summary():
    maps = _three_raters(1)
    pairs = pairwise_agreement(maps, ["dice"], labels=[1, 2], naming="release", image_id="x")
    assert list(pairs.columns[-3:]) == ["dice_score", "dice_score_label1", "dice_score_label2"]
    summary = image_agreement(pairs, ["dice"], statistics=["mean"])
    assert list(summary.columns) == [
        "dice_score_mean",
        "dice_score_label1_mean",
        "dice_score_label2_mean",
        "n_pairs",
    ]
    assert summary["dice_score_label2_mean"].iloc[0] == pytest.approx(
        pairs["dice_score_label2"].mean()
    )
    assert list(image_agreement(pairs, statistics=["mean"]).columns) == list(summary.columns)


def test_transformer_labels_match_pairwise_tables_and_are_order_invariant():
    images = [_three_raters(s) for s in range(3)]
    labels = [1, 2, 3]
    metrics = ["dice", "assd", "generalized_dice"]
    t = AgreementTransformer(
        metrics=metrics, statistics=["mean", "min"], labels=labels, empty="worst"
    ).set_output(transform="pandas")
    table = t.fit_transform(images)
    assert list(table.columns) == list(t.get_feature_names_out())
    assert "dice_label3_min" in table.columns and "generalized_dice_mean" in table.columns
    for i, maps in enumerate(images):
        pairs = pairwise_agreement(maps, metrics, labels=labels, empty="worst")
        for column in pairs.columns[2:]:
            assert table.loc[i, f"{column}_mean"] == pytest.approx(pairs[column].mean())
            assert table.loc[i, f"{column}_min"] == pytest.approx(pairs[column].min())
    # Symmetric metrics do not depend on the order of the annotators.
    shuffled = [m[::-1] for m in images]
    again = t.transform(shuffled)
    symmetric = [c for c in table.columns if not c.startswith("generalized_dice")]
    pd.testing.assert_frame_equal(again[symmetric], table[symmetric], rtol=1e-12)


def test_transformer_refuses_labels_all():
    t = AgreementTransformer(labels="all")
    with pytest.raises(ValueError, match="'labels' parameter"):
        t.fit([np.zeros((2, 3, 3), np.uint8)])


# --------------------------------------------------------------------------- #
# A folder of label maps: mask_folder_agreement and ``skiaa agreement --labels``
# --------------------------------------------------------------------------- #
def _write_label_folder(folder, n_images=3):
    from PIL import Image

    images = {}
    for i in range(n_images):
        maps = _three_raters(10 + i, shape=(24, 32))
        case = folder / f"case{i}"
        case.mkdir(parents=True)
        for j, m in enumerate(maps):
            Image.fromarray(m).save(case / f"rater{j}.png")
        images[f"case{i}"] = maps
    return images


def test_skiaa_agreement_labels_writes_per_class_columns(tmp_path):
    from skiaa.cli import main

    images = _write_label_folder(tmp_path / "maps")
    out = tmp_path / "out"
    args = ["agreement", str(tmp_path / "maps"), "--out", str(out), "-q"]
    assert (
        main([*args, "--metrics", "dice", "assd", "--labels", "1", "3", "--empty", "worst"]) == 0
    )
    pairs = pd.read_csv(out / "pairwise_metrics.csv")
    assert {"dice_score", "dice_score_label1", "dice_score_label3", "assd_score_label3"} <= set(
        pairs.columns
    )
    for row in pairs.itertuples():
        maps = images[row.img_id]
        j1, j2 = (int(name.removesuffix(".png")[-1]) for name in (row.mask1, row.mask2))
        want = dice(maps[j1], maps[j2], labels=[1, 3])
        np.testing.assert_allclose([row.dice_score_label1, row.dice_score_label3], want)
        assert row.dice_score == pytest.approx(want.mean())
    summary = pd.read_csv(out / "image_level_metrics.csv")
    assert {"dice_score_label3_mean", "dice_score_label3_std"} <= set(summary.columns)


def test_folder_labels_refuses_all_and_binary_reader_refuses_label_maps(tmp_path):
    from skiaa.cli import main
    from skiaa.datasets import mask_folder_agreement

    _write_label_folder(tmp_path / "maps", n_images=1)
    with pytest.raises(ValueError, match="labels must name the class values"):
        mask_folder_agreement(tmp_path / "maps", labels="all")
    # Without --labels the maps are read as binary masks, and their values refused.
    with pytest.raises(ValueError, match=r"rater0.png: mask values must be \{0, 1\}"):
        mask_folder_agreement(tmp_path / "maps")
    with pytest.raises(SystemExit):
        main(["agreement", "--demo", "3", "--labels", "1"])


# --------------------------------------------------------------------------- #
# Consensus and multi-rater measures of label maps
# --------------------------------------------------------------------------- #
@st.composite
def rater_maps(draw, ndim=2):
    """k raters' label maps of one image: a shared blob map, each rater relabelling
    some pixels at random (so that votes tie and confusion matrices differ)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k = draw(st.integers(2, 5))
    n_classes = draw(st.integers(1, 3))
    sides = (4, 10) if ndim == 3 else (6, 30)
    shape = tuple(draw(st.integers(*sides)) for _ in range(ndim))
    base = _blobs(rng, shape, n_classes, fraction=0.2)
    noise = draw(st.sampled_from([0.0, 0.05, 0.3]))
    maps = [
        np.where(rng.random(shape) < noise, rng.integers(0, n_classes + 1, shape), base)
        for _ in range(k)
    ]
    return np.stack(maps).astype(np.uint8), list(range(1, n_classes + 1))


@pytest.mark.parametrize("ndim", [2, 3])
@settings(max_examples=examples(25), deadline=None)
@given(data=st.data())
def test_multilabel_staple_and_voting_equal_simpleitk(ndim, data):
    sitk = pytest.importorskip("SimpleITK")
    maps, labels = data.draw(rater_maps(ndim=ndim))
    images = [sitk.GetImageFromArray(m) for m in maps]
    result = staple(maps, labels=labels)
    np.testing.assert_array_equal(
        result.mask, sitk.GetArrayFromImage(sitk.MultiLabelSTAPLE(images))
    )
    np.testing.assert_array_equal(
        majority_vote(maps, labels=labels), sitk.GetArrayFromImage(sitk.LabelVoting(images))
    )
    n = len(labels) + 1
    assert result.probabilities.shape == (n, *maps.shape[1:])
    np.testing.assert_allclose(result.confusion.sum(axis=1)[result.confusion.sum(axis=1) > 0], 1)


def _sitk_multilabel_staple(maps, max_iter=None):
    sitk = pytest.importorskip("SimpleITK")
    f = sitk.MultiLabelSTAPLEImageFilter()
    if max_iter is not None:
        f.SetMaximumNumberOfIterations(max_iter)
    mask = sitk.GetArrayFromImage(f.Execute([sitk.GetImageFromArray(m) for m in maps]))
    n = int(maps.max()) + 1
    confusion = np.stack(
        [np.reshape(f.GetConfusionMatrix(a), (n + 1, n)) for a in range(len(maps))]
    )
    return mask, confusion


@pytest.mark.parametrize("k", [4, 40])
def test_multilabel_staple_confusion_iterations_and_prior_equal_simpleitk(k):
    # Noise-like maps, where EM takes tens of iterations: every annotator's
    # confusion matrix equals SimpleITK's after 1 and 2 iterations and at
    # convergence; n_iter is the iteration that converged (one fewer warns);
    # the prior is each class's share of all pixels. 40 raters of 3 classes
    # (3**40 > 2**63) take the path that does not encode vote patterns as integers.
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(k)
    base = np.zeros((12, 14), np.uint8)
    base[3:8, 3:9], base[6:10, 8:12] = 1, 2
    noisy = rng.random((k, *base.shape)) < 0.3
    maps = np.where(noisy, rng.integers(0, 3, (k, *base.shape)), base).astype(np.uint8)
    result = staple(maps, labels=[1, 2])
    mask, confusion = _sitk_multilabel_staple(maps)
    np.testing.assert_array_equal(result.mask, mask)
    np.testing.assert_allclose(result.confusion, confusion, atol=1e-12)
    assert result.n_iter > 3
    for max_iter in (1, 2):
        with pytest.warns(ConvergenceWarning, match=f"max_iter={max_iter} "):
            early = staple(maps, labels=[1, 2], max_iter=max_iter)
        assert early.n_iter == max_iter
        np.testing.assert_allclose(
            early.confusion, _sitk_multilabel_staple(maps, max_iter)[1], atol=1e-12
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        staple(maps, labels=[1, 2], max_iter=result.n_iter)
    with pytest.warns(ConvergenceWarning):
        staple(maps, labels=[1, 2], max_iter=result.n_iter - 1)
    np.testing.assert_array_equal(result.values, [0, 1, 2])
    np.testing.assert_allclose(result.prior, np.bincount(maps.ravel(), minlength=3) / maps.size)
    np.testing.assert_allclose(result.probabilities.sum(axis=0), 1.0)
    decided = np.sort(result.probabilities, axis=0)[-1] > np.sort(result.probabilities, axis=0)[-2]
    np.testing.assert_array_equal(
        result.values[result.probabilities.argmax(axis=0)][decided], result.mask[decided]
    )


def test_label_consensus_undecided_value_and_background_of_unnamed_values():
    maps = np.array([[[1, 2, 5]], [[1, 3, 5]]])
    # A 2-2 tie between 2 and 3 is undecided; 5 is not named, so it is background.
    np.testing.assert_array_equal(majority_vote(maps, labels=[1, 2, 3]), [[1, 4, 0]])
    np.testing.assert_array_equal(
        majority_vote(maps, labels=[1, 2, 3], undecided=255), [[1, 255, 0]]
    )
    with pytest.raises(ValueError, match="apply to binary masks"):
        staple(maps, labels=[1, 2], threshold=0.4)
    with pytest.raises(ValueError, match="undecided must be an integer"):
        majority_vote(maps, labels=[1], undecided="x")
    with pytest.raises(ValueError, match="ties applies to binary masks"):
        majority_vote(maps, labels=[1], ties="background")


def test_labels_all_on_maps_without_a_class_is_refused_where_values_would_be_empty():
    zeros = np.zeros((2, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="labels='all' found no class"):
        dice(zeros[0], zeros[1], labels="all")
    with pytest.raises(ValueError, match="labels='all' found no class"):
        pairwise_agreement(zeros, ["dice"], labels="all")
    with pytest.raises(ValueError, match="labels='all' found no class"):
        generalized_energy_distance(zeros, zeros, labels="all")
    # Named classes absent from every map: equal masks, by the binary rules.
    np.testing.assert_array_equal(dice(zeros[0], zeros[1], labels=[1, 2]), [1.0, 1.0])
    np.testing.assert_array_equal(majority_vote(zeros, labels="all"), zeros[0])
    with pytest.warns(AlphaUndefinedWarning):
        assert np.isnan(krippendorff_alpha(zeros, labels="all"))


@settings(max_examples=examples(25), deadline=None)
@given(data=rater_maps())
def test_alpha_over_labels_equals_krippendorff_package(data):
    krippendorff = pytest.importorskip("krippendorff")
    maps, labels = data
    reliability = maps.reshape(len(maps), -1).astype(float)
    if len(np.unique(reliability)) < 2:
        with pytest.warns(AlphaUndefinedWarning):
            assert np.isnan(krippendorff_alpha(maps, labels="all"))
        return
    want = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
    assert krippendorff_alpha(maps, labels="all") == pytest.approx(want, abs=1e-12)
    # Naming every value present is the same classes.
    assert krippendorff_alpha(maps, labels=labels) == pytest.approx(want, abs=1e-12)


def test_alpha_over_labels_of_maps_without_pixels_is_undefined():
    # No unit holds a pair of values: NaN, said so, whatever the labels.
    for labels in ([1], "all"):
        with pytest.warns(AlphaUndefinedWarning):
            assert np.isnan(krippendorff_alpha(np.zeros((2, 0, 3), np.uint8), labels=labels))


def test_pooled_alpha_over_labels_equals_krippendorff_on_all_units():
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 3, (3, 5, 6)), rng.integers(0, 3, (2, 4, 4))]
    images[0][:, :2] = images[0][0, :2]
    # The second image has two raters: the third gives no value there.
    data = np.full((3, 30 + 16), np.nan)
    data[:, :30] = images[0].reshape(3, -1)
    data[:2, 30:] = images[1].reshape(2, -1)
    want = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha(images, pooled=True, labels="all") == pytest.approx(want, abs=1e-12)
    # Binary label maps give the binary alpha.
    binary = rng.random((3, 6, 6)) > 0.5
    assert krippendorff_alpha(binary.astype(np.uint8), labels=[1]) == pytest.approx(
        krippendorff_alpha(binary), abs=1e-12
    )


def _ged_by_definition(samples, annotators, labels):
    """PHiSeg's multi-class GED, written out: d = 1 - mean over classes of IoU."""

    def d(x, y):
        ious = []
        for c in labels:
            a, b = x == c, y == c
            if not a.any() and not b.any():
                ious.append(1.0)
            else:
                ious.append((a & b).sum() / (a | b).sum())
        return 1.0 - np.mean(ious)

    def mean(xs, ys):
        return np.mean([[d(x, y) for y in ys] for x in xs])

    cross = mean(samples, annotators)
    d_ss, d_yy = mean(samples, samples), mean(annotators, annotators)
    return 2 * cross - d_ss - d_yy, cross, d_ss, d_yy


@settings(max_examples=examples(25), deadline=None)
@given(data=rater_maps(), n_samples=st.integers(1, 4))
def test_ged_over_labels_equals_the_per_class_iou_distance(data, n_samples):
    maps, labels = data
    samples = np.roll(maps, 1, axis=-1)[:n_samples]
    got = generalized_energy_distance(samples, maps, labels=labels)
    # Each term too: a constant added to d would cancel in the GED alone.
    np.testing.assert_allclose(got, _ged_by_definition(samples, maps, labels), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- #
# DeepMind's surface elements: hd_percentile="area_weighted", surface="area_weighted"
# --------------------------------------------------------------------------- #
def _deepmind():
    sd = pytest.importorskip("surface_distance", reason="DeepMind's surface-distance")
    return sd


@pytest.mark.parametrize("ndim", [2, 3])
@settings(max_examples=examples(20), deadline=None)
@given(data=st.data())
def test_area_weighted_hd95_and_surface_dice_equal_deepmind(ndim, data):
    sd = _deepmind()
    a, b, spacing = data.draw(map_pairs(ndim=ndim))
    a, b = a == 1, b == 2
    if not (a.any() and b.any()):  # the PyPI release crashes on empty masks under numpy 2
        return
    distances = sd.compute_surface_distances(a, b, spacing)
    assert hd95(a, b, spacing=spacing, hd_percentile="area_weighted") == pytest.approx(
        sd.compute_robust_hausdorff(distances, 95), abs=1e-9
    )
    assert surface_dice(a, b, 1.5, spacing=spacing, surface="area_weighted") == pytest.approx(
        sd.compute_surface_dice_at_tolerance(distances, 1.5), abs=1e-12
    )


def test_area_weighted_hd95_where_the_farthest_element_holds_over_5_percent():
    # Single pixels: each of a pixel's four edges holds a quarter of its
    # surface, so the 95th percentile weighted by area is the largest distance
    # alone (the cumulative share reaches 0.95 only at the last element), as
    # DeepMind's robust Hausdorff distance has it.
    sd = _deepmind()
    a = np.zeros((12, 16), bool)
    b = a.copy()
    a[5, 4] = True
    b[7, 11] = True
    distances = sd.compute_surface_distances(a, b, (1.0, 1.3))
    want = sd.compute_robust_hausdorff(distances, 95)
    assert hd95(a, b, spacing=(1.0, 1.3), hd_percentile="area_weighted") == pytest.approx(
        want, abs=1e-9
    )


def test_area_weighted_surface_dice_equals_monai_subvoxels():
    metrics = pytest.importorskip("monai.metrics", reason="MONAI reference (the 'test' extra)")
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for shape, spacing in (((40, 50), (0.8, 1.3)), ((12, 16, 14), (2.5, 1.0, 0.7))):
        a, b = _blobs(rng, shape, 1) == 1, _blobs(rng, shape, 1) == 1
        pred, ref = (torch.from_numpy(m[None, None].astype(np.float32)) for m in (a, b))
        want = metrics.compute_surface_dice(
            pred, ref, [1.5], include_background=True, spacing=list(spacing), use_subvoxels=True
        )
        got = surface_dice(a, b, 1.5, spacing=spacing, surface="area_weighted")
        assert got == pytest.approx(float(want), abs=1e-5)


def test_area_weighted_options_per_class_and_in_tables():
    maps = _three_raters(4)
    labels = [1, 2]
    per_class = hd95(maps[0], maps[1], labels=labels, hd_percentile="area_weighted")
    want = [hd95(maps[0] == c, maps[1] == c, hd_percentile="area_weighted") for c in labels]
    np.testing.assert_allclose(per_class, want)
    # With a spacing, each class's surface elements are measured in it too.
    spacing, tol = (2.5, 0.6), 1.2
    for metric, kwargs in (
        (hd95, dict(hd_percentile="area_weighted")),
        (surface_dice, dict(tolerance=tol, surface="area_weighted")),
    ):
        got = metric(maps[0], maps[1], labels=labels, spacing=spacing, **kwargs)
        binary = [metric(maps[0] == c, maps[1] == c, spacing=spacing, **kwargs) for c in labels]
        np.testing.assert_allclose(got, binary)
        assert not np.allclose(got, metric(maps[0], maps[1], labels=labels, **kwargs))
    pairs = pairwise_agreement(maps[:2], ["hd95"], labels=labels, hd_percentile="area_weighted")
    np.testing.assert_allclose(pairs[["hd95_label1", "hd95_label2"]].to_numpy()[0], want)
    with pytest.raises(ValueError, match="defined for 2-D and 3-D masks, got 4-D"):
        hd95(np.ones((2, 2, 2, 2)), np.ones((2, 2, 2, 2)), hd_percentile="area_weighted")
    with pytest.raises(ValueError, match="surface must be 'pixels' or 'area_weighted'"):
        surface_dice(maps[0] == 1, maps[1] == 1, surface="area")


def test_stored_surfel_table_equals_deepmind_table():
    lookup = pytest.importorskip("surface_distance.lookup_tables")
    from skiaa.agreement._surfels import _areas_3d, _lengths_2d

    for spacing in ((1.0, 1.0, 1.0), (2.5, 0.9, 0.7)):
        np.testing.assert_array_equal(
            _areas_3d(spacing), lookup.create_table_neighbour_code_to_surface_area(spacing)
        )
    for spacing in ((1.0, 1.0), (0.7, 1.3)):
        np.testing.assert_array_equal(
            _lengths_2d(spacing), lookup.create_table_neighbour_code_to_contour_length(spacing)
        )


def test_alpha_over_labels_names_the_image_only_when_pooled():
    bad = np.array([[[0, 1], [2, -1]]] * 2, dtype=np.int64)
    with pytest.raises(ValueError) as exc:
        krippendorff_alpha(bad, labels="all")
    assert str(exc.value) == "mask 0: label values must be non-negative, found -1"
    with pytest.raises(ValueError) as exc:
        krippendorff_alpha([bad[:, :1], bad], pooled=True, labels="all")
    assert str(exc.value) == "image 1: mask 0: label values must be non-negative, found -1"
    one = np.full((1, 3, 3), 2, np.uint8)
    with pytest.raises(ValueError) as exc:
        krippendorff_alpha([one, one[:, :2]], pooled=True, labels="all")
    assert str(exc.value).endswith("with pooled=True, each of the 2 image(s) has one mask")


def test_alpha_over_one_named_class_is_that_class_against_the_rest():
    rng = np.random.default_rng(5)
    maps = rng.integers(0, 3, (3, 6, 7))
    for c in (1, 2):
        assert krippendorff_alpha(maps, labels=[c]) == pytest.approx(
            krippendorff_alpha(maps == c), abs=1e-12
        )


def test_multilabel_staple_of_unanimous_maps_converges_at_the_first_iteration():
    # The majority vote's confusion matrices are then already EM's fixed point:
    # the first update changes nothing (SimpleITK's matrices after one
    # iteration are the identity too).
    from sklearn.exceptions import ConvergenceWarning

    base = np.zeros((12, 14), np.uint8)
    base[3:8, 3:9], base[6:10, 8:12] = 1, 2
    maps = np.stack([base] * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = staple(maps, labels=[1, 2], max_iter=1)
    assert result.n_iter == 1
    np.testing.assert_array_equal(result.mask, base)
    np.testing.assert_allclose(result.confusion, _sitk_multilabel_staple(maps, 1)[1], atol=0)
    # tol=0 stops there too, as it does for binary masks: a change of exactly
    # 0 is converged, not a reason to run to max_iter and warn.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert staple(maps, labels=[1, 2], tol=0.0, max_iter=50).n_iter == 1


def test_multilabel_staple_with_a_named_class_no_map_has():
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(8)
    base = np.zeros((12, 14), np.uint8)
    base[3:8, 3:9], base[6:10, 8:12] = 1, 2
    noisy = rng.random((4, *base.shape)) < 0.3
    maps = np.where(noisy, rng.integers(0, 3, (4, *base.shape)), base).astype(np.uint8)
    # EM converges in a few dozen iterations: a NaN row (a 0/0 of the class no
    # map has) would keep it from converging, so it must converge well before
    # max_iter, and quickly fail rather than run 100,000 iterations.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        without = staple(maps, labels=[1, 2], max_iter=1000)
        result = staple(maps, labels=[1, 2, 5], max_iter=1000)
    np.testing.assert_array_equal(result.mask, without.mask)
    assert result.n_iter == without.n_iter
    # Class 5 (position 3) has no pixel: prior, probability and its column of
    # every confusion matrix are 0, never NaN; the other classes are unchanged.
    assert result.prior[3] == 0
    assert not np.isnan(result.probabilities).any()
    assert not result.probabilities[3].any()
    assert not result.confusion[:, :, 3].any()
    np.testing.assert_allclose(
        result.confusion[:, [0, 1, 2, 4], :3], without.confusion, atol=1e-12
    )


def test_multilabel_staple_tie_is_the_undecided_value_as_in_simpleitk():
    sitk = pytest.importorskip("SimpleITK")
    one = np.zeros((6, 6), np.uint8)
    one[1:4, 1:4] = 1
    maps = np.stack([one, one * 2])  # one annotator says 1 where the other says 2
    want = sitk.GetArrayFromImage(
        sitk.MultiLabelSTAPLE([sitk.GetImageFromArray(m) for m in maps], 9)
    )
    result = staple(maps, labels=[1, 2], undecided=9)
    np.testing.assert_array_equal(result.mask, want)
    assert (result.mask == 9).sum() == 9


def test_overlap_of_a_class_that_never_coincides_is_zero():
    # No pixel carries class 2 in both maps, and none is background: the
    # per-class intersections must still hold one count per class.
    a = np.array([[1, 1], [2, 2]])
    b = np.array([[1, 2], [1, 1]])
    np.testing.assert_allclose(dice(a, b, labels=[1, 2]), [2 * 1 / (2 + 3), 0.0])
    np.testing.assert_allclose(jaccard(a, b, labels=[1, 2]), [1 / 4, 0.0])
