"""AgreementTransformer: ragged mask stacks in, per-image agreement features out."""

import inspect
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from sklearn.base import clone
from sklearn.exceptions import SkipTestWarning
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skiaa import AgreementTransformer
from skiaa.agreement import EmptyMaskWarning, image_agreement, pairwise_agreement


def _ellipse(shape, centre, radii):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - centre[0]) / radii[0]) ** 2 + ((xx - centre[1]) / radii[1]) ** 2 <= 1


@pytest.fixture
def ragged():
    """Three images: 2, 3 and 4 masks of different sizes, as bool, 0/1 and 0/255."""
    rng = np.random.default_rng(0)
    images = []
    for k, shape, encode in ((2, (20, 30), bool), (3, (25, 18), int), (4, (16, 16), "255")):
        masks = []
        for _ in range(k):
            centre = np.array(shape) / 2 + rng.uniform(-2, 2, 2)
            radii = np.array(shape) / 3 + rng.uniform(-1.5, 1.5, 2)
            mask = _ellipse(shape, centre, radii)
            masks.append(mask.astype(np.uint8) * 255 if encode == "255" else mask.astype(encode))
        images.append(masks if k != 3 else np.stack(masks))
    return images


ALL_STATS = ["mean", "std", "min", "max"]


def test_values_match_image_agreement(ragged):
    metrics = ["dice", "jaccard", "hd95", "assd_normalized", "surface_dice", "boundary_f1"]
    t = AgreementTransformer(metrics=metrics, statistics=ALL_STATS, tolerance=1.5)
    out = t.fit_transform(ragged)
    names = list(t.get_feature_names_out())
    assert out.shape == (3, len(metrics) * 4 + 1) == (3, len(names))
    assert names[:4] == ["dice_mean", "dice_std", "dice_min", "dice_max"]
    assert names[-1] == "n_masks"
    pairs = pd.concat(
        [
            pairwise_agreement(masks, metrics, image_id=i, tolerance=1.5)
            for i, masks in enumerate(ragged)
        ]
    )
    expected = image_agreement(pairs, metrics, statistics=ALL_STATS)
    np.testing.assert_allclose(out[:, :-1], expected.to_numpy()[:, :-1], rtol=1e-12)
    np.testing.assert_array_equal(out[:, -1], [2, 3, 4])
    # Two masks = one pair: the sample std is undefined (NaN), as in the release.
    assert np.isnan(out[0, 1]) and not np.isnan(out[1, 1])


def test_default_is_the_papers_iaa(ragged):
    t = AgreementTransformer()
    out = t.transform(ragged)  # stateless: no fit needed
    assert list(t.get_feature_names_out()) == ["dice_mean", "n_masks"]
    for i, masks in enumerate(ragged):
        assert out[i, 0] == pytest.approx(pairwise_agreement(masks, ["dice"])["dice"].mean())


def test_population_std_with_ddof_0(ragged):
    out = AgreementTransformer(statistics="std", ddof=0).transform(ragged)
    dices = pairwise_agreement(ragged[0], ["dice"])["dice"]
    assert out[0, 0] == 0.0 == np.std(dices, ddof=0)


@given(st.randoms(use_true_random=False))
def test_statistics_do_not_depend_on_mask_order(rnd):
    rng = np.random.default_rng(rnd.randint(0, 2**32 - 1))
    masks = [_ellipse((14, 14), rng.uniform(5, 9, 2), rng.uniform(3, 5, 2)) for _ in range(4)]
    shuffled = list(masks)
    rnd.shuffle(shuffled)
    t = AgreementTransformer(metrics=["dice", "hausdorff", "assd"], statistics=ALL_STATS)
    np.testing.assert_allclose(t.transform([masks]), t.transform([shuffled]), rtol=1e-12)


def test_mask_files_are_read(ragged, tmp_path):
    paths = []
    for j, mask in enumerate(ragged[2]):
        path = tmp_path / f"m{j}.png"
        Image.fromarray(mask).save(path)
        paths.append(str(path) if j % 2 else path)
    t = AgreementTransformer(metrics=["dice", "hd95"], statistics=["mean", "max"])
    np.testing.assert_array_equal(t.transform([paths]), t.transform([ragged[2]]))


def test_four_d_array_input(ragged):
    stack4d = np.stack([np.asarray(ragged[2])] * 2)
    out = AgreementTransformer().transform(stack4d)
    assert out.shape == (2, 2) and out[0, 0] == out[1, 0]


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda imgs: imgs[:1] + [[imgs[1][0], imgs[1][1][:-1]]], "image 1: all masks"),
        (
            lambda imgs: imgs[:2] + [[np.full((16, 16), 2), imgs[2][1]]],
            "image 2: mask 0: mask val",
        ),
        (lambda imgs: [imgs[0][:1]] + imgs[1:], "image 0: needs at least 2 masks, got 1"),
        (lambda imgs: imgs[:1] + [["missing.png", "missing.png"]], "image 1: cannot read mask"),
        (lambda imgs: [np.zeros((2, 3))], "image 0: a mask stack must be at least 3-D"),
    ],
)
def test_bad_input_names_the_image(ragged, make_bad, message):
    with pytest.raises(ValueError, match=message):
        AgreementTransformer().fit_transform(make_bad(ragged))


@pytest.mark.parametrize(
    "X, message",
    [
        (pd.DataFrame({"a": [1]}), "sequence of mask stacks"),
        ("masks.png", "sequence of mask stacks"),
        (3, "sequence of mask stacks"),
        (np.zeros((5, 3)), "must be 4-D"),
        ([], "holds no image"),
    ],
)
def test_bad_X_layout(X, message):
    with pytest.raises(ValueError, match=message):
        AgreementTransformer().transform(X)


def test_few_masks_nan_policy(ragged):
    images = [ragged[0][:1], ragged[1], [], ragged[2]]
    t = AgreementTransformer(statistics=["mean", "max"], few_masks="nan", min_masks=3)
    out = t.transform(images)
    # Images 0 (1 mask) and 2 (none) fall short of min_masks=3: NaN rows, counted masks.
    assert np.isnan(out[0, :2]).all() and out[0, 2] == 1
    assert np.isnan(out[2, :2]).all() and out[2, 2] == 0
    assert not np.isnan(out[[1, 3], :2]).any()
    np.testing.assert_array_equal(out[:, 2], [1, 3, 0, 4])
    with pytest.raises(ValueError, match="image 0: needs at least 3 masks"):
        AgreementTransformer(min_masks=3).transform(images)


@pytest.mark.parametrize(
    "params, error",
    [
        ({"metrics": ["dise"]}, "Did you mean 'dice'"),
        ({"statistics": ["mean", "mode"]}, "statistics"),
        ({"statistics": ["mean", "mean"]}, "distinct"),
        ({"min_masks": 1}, "min_masks"),
        ({"few_masks": "drop"}, "few_masks"),
        ({"tolerance": -1.0}, "tolerance"),
        ({"spacing": (1.0, -2.0)}, "spacing"),
        ({"ddof": -1}, "ddof"),
    ],
)
def test_invalid_parameters(ragged, params, error):
    t = AgreementTransformer(**params)
    with pytest.raises((ValueError, InvalidParameterError), match=error):
        t.fit(ragged)
    with pytest.raises((ValueError, InvalidParameterError), match=error):
        t.get_feature_names_out()


def test_pandas_output_and_pipeline(ragged):
    t = AgreementTransformer(metrics=["dice", "hd95"], statistics=["mean", "min"])
    frame = clone(t).set_output(transform="pandas").fit_transform(ragged)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["dice_mean", "dice_min", "hd95_mean", "hd95_min", "n_masks"]
    np.testing.assert_allclose(frame.to_numpy(), t.transform(ragged))

    pipe = make_pipeline(t, StandardScaler()).set_output(transform="pandas")
    scaled = pipe.fit_transform(ragged)
    assert list(scaled.columns) == list(frame.columns)
    np.testing.assert_allclose(scaled.mean().to_numpy(), 0, atol=1e-12)
    assert list(pipe.get_feature_names_out()) == list(frame.columns)
    # Parameters route through the pipeline like any step's.
    named = Pipeline([("iaa", AgreementTransformer()), ("scale", StandardScaler())])
    named.set_params(iaa__metrics=["jaccard"])
    # The default (Dice) gives the same shape: assert the values, which only
    # the Jaccard index gives.
    jaccard = AgreementTransformer(metrics=["jaccard"]).fit_transform(ragged)
    dice = AgreementTransformer(metrics=["dice"]).fit_transform(ragged)
    assert not np.allclose(jaccard[:, 0], dice[:, 0])
    np.testing.assert_allclose(
        named.fit_transform(ragged), StandardScaler().fit_transform(jaccard)
    )
    assert list(named.get_feature_names_out()) == ["jaccard_mean", "n_masks"]
    np.testing.assert_allclose(
        named.named_steps["iaa"].transform(ragged)[:, 0],
        [pairwise_agreement(m, ["jaccard"])["jaccard"].mean() for m in ragged],
    )


def test_clone_pickle_params(ragged):
    t = AgreementTransformer(metrics=["assd"], statistics=["max"], spacing=(0.5, 0.5))
    expected = t.transform(ragged)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(t)).transform(ragged), expected)
    copy = clone(t)
    assert copy.get_params() == t.get_params()
    copy.set_params(spacing=None)
    np.testing.assert_allclose(copy.transform(ragged)[:, 0], 2 * expected[:, 0], rtol=1e-12)


def test_n_jobs_gives_the_same_result(ragged):
    serial = AgreementTransformer(metrics=["dice", "hausdorff"], statistics=ALL_STATS)
    parallel = clone(serial).set_params(n_jobs=2)
    np.testing.assert_array_equal(parallel.transform(ragged * 2), serial.transform(ragged * 2))


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_empty_mask_warning_reaches_the_caller(ragged, n_jobs):
    # Also from joblib worker processes, where a warning would otherwise be lost.
    masks = [ragged[0][0], np.zeros_like(ragged[0][0])]
    t = AgreementTransformer(metrics=["dice", "hd95"], n_jobs=n_jobs)
    with pytest.warns(EmptyMaskWarning, match="image 1, masks 0 and 1"):
        out = t.transform([ragged[0], masks])
    assert out[1, 0] == 0.0 and np.isnan(out[1, 1])


def test_verbose_shows_progress(ragged, capsys):
    AgreementTransformer(verbose=1).transform(ragged)
    assert "agreement" in capsys.readouterr().err
    AgreementTransformer(verbose=0).transform(ragged)
    assert capsys.readouterr().err == ""


def test_tags():
    tags = AgreementTransformer().__sklearn_tags__()
    assert tags.requires_fit is False
    assert tags.input_tags.two_d_array is False


# --------------------------------------------------------------------------- #
# scikit-learn's estimator checks
# --------------------------------------------------------------------------- #
# With its true tags (two_d_array=False) scikit-learn runs only the clone check on
# AgreementTransformer. To exercise the rest of the API checks (repr, get/set_params,
# no attributes set in __init__, fit returns self, parameters not overwritten,
# sparse input refused...) they also run on a subclass whose tags claim 2-D input.
# The checks that then fail are listed with their reason; every one comes from the
# checks feeding a 2-D numeric table where the transformer takes ragged mask stacks.
class _ClaimsTabularInput(AgreementTransformer):
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        return tags


_TABLE_IS_NOT_MASKS = (
    "transform gets a 2-D numeric table; its rows are not stacks of 2-D masks, so the "
    "transformer rightly raises ValueError"
)
_NO_FEATURE_COUNT = (
    "ragged mask stacks have no number of features, so n_features_in_ is not defined"
)
_FIT_DOES_NOT_READ = (
    "fit is stateless and does not read the masks (that is transform's job, lazily for "
    "files), so it cannot reject a table's values at fit time"
)
EXPECTED_FAILED_CHECKS = {
    "check_fit_score_takes_y": _TABLE_IS_NOT_MASKS,
    "check_estimators_dtypes": _TABLE_IS_NOT_MASKS,
    "check_dtype_object": _TABLE_IS_NOT_MASKS,
    "check_pipeline_consistency": _TABLE_IS_NOT_MASKS,
    "check_estimators_pickle": _TABLE_IS_NOT_MASKS,
    "check_f_contiguous_array_estimator": _TABLE_IS_NOT_MASKS,
    "check_transformer_data_not_an_array": _TABLE_IS_NOT_MASKS,
    "check_transformer_general": _TABLE_IS_NOT_MASKS,
    "check_transformer_preserve_dtypes": _TABLE_IS_NOT_MASKS,
    "check_transformers_unfitted_stateless": _TABLE_IS_NOT_MASKS,
    "check_methods_sample_order_invariance": _TABLE_IS_NOT_MASKS,
    "check_methods_subset_invariance": _TABLE_IS_NOT_MASKS,
    "check_dict_unchanged": _TABLE_IS_NOT_MASKS,
    "check_fit_idempotent": _TABLE_IS_NOT_MASKS,
    "check_fit2d_predict1d": _TABLE_IS_NOT_MASKS,
    "check_n_features_in_after_fitting": _NO_FEATURE_COUNT,
    "check_n_features_in": _NO_FEATURE_COUNT,
    "check_complex_data": _FIT_DOES_NOT_READ,
    "check_estimators_empty_data_messages": _FIT_DOES_NOT_READ,
    "check_estimators_nan_inf": _FIT_DOES_NOT_READ,
    "check_fit1d": _FIT_DOES_NOT_READ,
}


def _expected_failed_checks(estimator):
    if isinstance(estimator, _ClaimsTabularInput):
        return EXPECTED_FAILED_CHECKS
    return {}


# With the true tags scikit-learn warns (SkipTestWarning) that it skips the rest:
# that is the point made above, so it is silenced while the checks are collected.
# Strict xfails (an expected failure that passes is an error) where scikit-learn
# offers them (1.8+); older releases, which skiaa supports, mark them non-strict.
_STRICT = (
    {"xfail_strict": True}
    if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters
    else {}
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", SkipTestWarning)
    _sklearn_checks = parametrize_with_checks(
        [AgreementTransformer(), _ClaimsTabularInput()],
        expected_failed_checks=_expected_failed_checks,
        **_STRICT,
    )


@_sklearn_checks
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("depth", [1, 3])
def test_measures_of_volumes_whose_last_axis_looks_like_channels(depth):
    # A volume (D, H, W) with W of 1 or 3 voxels and a spacing per axis is a
    # volume: the whole-stack measures read it as the pair metrics do.
    rng = np.random.default_rng(depth)
    stack = rng.random((3, 4, 5, depth)) < 0.5
    stack[0, 0, 0, 0], stack[1, 0, 0, 0] = True, False  # two values: alpha is defined
    t = AgreementTransformer(
        metrics=["dice"],
        statistics=["mean"],
        measures=["union_entropy", "krippendorff_alpha", "annotator_diversity"],
        spacing=(1.0, 1.0, 1.0),
    )
    row = t.fit_transform([stack])[0]
    entropy, alpha, diversity = row[1:4]
    p = stack.mean(axis=0)[stack.any(axis=0)]
    with np.errstate(divide="ignore", invalid="ignore"):
        bits = -(np.where(p > 0, p * np.log2(p), 0) + np.where(p < 1, (1 - p) * np.log2(1 - p), 0))
    assert entropy == pytest.approx(bits.mean(), abs=1e-12)
    assert np.isfinite(alpha) and np.isfinite(diversity)
    assert row[-1] == 3


def test_label_maps_rows_take_the_options_and_measure_the_marked_pixels():
    # With labels, each row's pair statistics follow the options (here the
    # directed-maximum HD95), and the whole-stack measures read "any class"
    # (map != 0), as documented.
    from skiaa.agreement import generalized_energy_distance, krippendorff_alpha

    rng = np.random.default_rng(5)
    maps = [rng.integers(0, 3, (3, 12, 12)).astype(np.uint8) for _ in range(2)]
    t = AgreementTransformer(
        metrics=["hd95"], statistics=["mean"], labels=[1, 2], hd_percentile="max",
        measures=["krippendorff_alpha", "annotator_diversity"],
    ).set_output(transform="pandas")  # fmt: skip
    out = t.fit_transform(maps)
    for (_, row), stack in zip(out.iterrows(), maps):
        pairs = pairwise_agreement(stack, ["hd95"], labels=[1, 2], hd_percentile="max")
        assert row["hd95_label2_mean"] == pytest.approx(pairs["hd95_label2"].mean())
        marked = stack != 0
        assert row["krippendorff_alpha"] == pytest.approx(krippendorff_alpha(marked))
        want = generalized_energy_distance(marked, marked).annotator_diversity
        assert row["annotator_diversity"] == pytest.approx(want)


def test_an_image_with_too_few_masks_is_nan_without_an_alpha_warning():
    from skiaa.agreement import AlphaUndefinedWarning

    stacks = [np.ones((1, 6, 6), bool), np.stack([_ellipse((6, 6), (3, 3), (2, 2))] * 2)]
    t = AgreementTransformer(metrics=["dice"], measures=["krippendorff_alpha"], few_masks="nan")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlphaUndefinedWarning)
        out = t.fit_transform(stacks[:1])
    assert np.isnan(out[0, :-1]).all() and out[0, -1] == 1


def test_a_spacing_that_does_not_fit_an_image_short_of_masks_is_refused_naming_it():
    # An image with too few masks still has a dimension: a 3-D spacing for 2-D masks
    # is an error there, not a NaN row that hides it until a later image.
    one = np.ones((1, 6, 6), bool)
    two = np.stack([_ellipse((6, 6), (3, 3), (2, 2))] * 2)
    t = AgreementTransformer(metrics=["dice"], few_masks="nan", spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError) as info:
        t.fit_transform([one, two])
    assert str(info.value) == (
        "image 0: spacing must be one positive number or 2 positive numbers (one per axis), "
        "got [1.0, 1.0, 1.0] for masks of shape (6, 6)"
    )


def test_a_spacing_per_image_needs_one_row_per_image():
    stacks = [np.stack([_ellipse((8, 8), (4, 4), (2, 3))] * 2)] * 3  # 3 images, 2-D
    spacing = np.array([[1.0, 1.0], [1.0, 2.0], [2.0, 2.0]])  # 3 rows of 2 values
    t = AgreementTransformer(metrics=["hd95"], statistics=["mean"], spacing=spacing)
    assert t.fit_transform(stacks).shape == (3, 2)
    with pytest.raises(ValueError) as exc:
        t.fit_transform(stacks[:2])
    assert str(exc.value) == "spacing has 3 rows, one per image, but X holds 2 images"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"labels": [1, 1]}, r"^labels must be distinct, got \[1, 1\]$"),
        ({"measures": ["union_entropy", "nope"]}, r"^unknown measure 'nope'; choose from "),
        ({"spacing": ["a", "b"]}, r"^spacing must be a positive number.*got \['a', 'b'\]$"),
        ({"spacing": [1.0, 0.0]}, r"^spacing must be a positive number.*got \[1\.0, 0\.0\]$"),
        ({"spacing": np.ones((2, 2, 2))}, r"^spacing must be a positive number"),
    ],
)
def test_fit_refuses_what_transform_would_with_the_same_message(params, message):
    # fit reads no mask, but it checks every parameter, their contents included,
    # so that a grid search fails at once rather than at transform.
    stack = np.zeros((2, 4, 4), bool)
    stack[:, 1:3, 1:3] = True
    with pytest.raises(ValueError, match=message):
        AgreementTransformer(**params).fit([stack])


def test_every_parameter_is_kept_as_given_for_clone_and_grid_search():
    params = dict(
        metrics=["dice", "hd95"],
        statistics=["mean", "median"],
        tolerance=1.5,
        spacing=(0.5, 2.0),
        hd_percentile="max",
        empty="worst",
        min_masks=3,
        few_masks="nan",
        ddof=0,
        n_jobs=2,
        verbose=1,
        labels=[1, 2],
        measures=["union_entropy"],
    )
    t = AgreementTransformer(**params)
    got = t.get_params()
    assert {name: got[name] for name in params} == params
    assert clone(t).get_params() == got
