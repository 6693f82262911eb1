"""A predicted mask scored against several annotators (skiaa.agreement scoring)."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, cross_validate

from _helpers import disc
from skiaa.agreement import (
    EmptyMaskWarning,
    dice,
    jaccard,
    majority_vote,
    make_segmentation_scorer,
    pairwise_agreement,
    score_segmentation,
    staple,
    summarize_scores,
    threshold_jaccard,
)
from skiaa.agreement._scoring import _percentile


def _image(k=4, seed=0, shape=(32, 32)):
    rng = np.random.default_rng(seed)
    masks = np.stack(
        [
            disc(shape, (16 + rng.normal(0, 1.5), 16 + rng.normal(0, 1.5)), 8 + rng.normal(0, 1))
            for _ in range(k)
        ]
    )
    return masks


# --------------------------------------------------------------------------- #
# threshold_jaccard
# --------------------------------------------------------------------------- #
@given(arrays(bool, (6, 7)), arrays(bool, (6, 7)), st.floats(0, 1))
def test_threshold_jaccard_is_jaccard_or_zero(a, b, threshold):
    j = jaccard(a, b)
    expected = j if j >= threshold else 0.0
    assert threshold_jaccard(a, b, threshold) == expected
    assert threshold_jaccard(a, b, threshold) == threshold_jaccard(b, a, threshold)


def test_threshold_jaccard_at_the_challenge_threshold():
    a = np.zeros((10, 10), bool)
    a[:10, :10] = True
    b = a.copy()
    b[:, 7:] = False  # J = 0.7: kept
    assert threshold_jaccard(a, b) == pytest.approx(0.7)
    b[:, 6:] = False  # J = 0.6: counts 0
    assert threshold_jaccard(a, b) == 0.0
    assert threshold_jaccard(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    for bad in (-0.1, 1.5, "0.6", True):
        with pytest.raises(ValueError, match="threshold"):
            threshold_jaccard(a, b, bad)


def test_threshold_jaccard_keeps_a_value_exactly_at_the_threshold():
    # The challenge counts J >= 0.65: 13 of 20 pixels shared is J = 13/20, the
    # same double as 0.65, and must keep its value, not score 0.
    a = np.ones((4, 5), bool)
    b = a.copy()
    b.flat[13:] = False
    assert jaccard(a, b) == 0.65
    assert threshold_jaccard(a, b) == 0.65
    assert threshold_jaccard(a, b, threshold=0.5) == 0.65
    half = a.copy()
    half.flat[10:] = False  # J = 10/20, at threshold 0.5 exactly
    assert threshold_jaccard(a, half, threshold=0.5) == 0.5
    # The scorer's per-annotator and summary values go through the same rule.
    result = score_segmentation(b, np.stack([a, a]), ["threshold_jaccard"], consensus="majority")
    np.testing.assert_array_equal(result.annotators["threshold_jaccard"], [0.65, 0.65])
    row = result.summary.set_index("metric").loc["threshold_jaccard"]
    assert row["model_mean"] == 0.65 and row["model_consensus"] == 0.65


# --------------------------------------------------------------------------- #
# score_segmentation, against the pair metrics it is made of
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("consensus", ["staple", "majority"])
def test_score_segmentation_equals_the_pair_metrics(consensus):
    # Every option reaches the metrics: spacing, tolerance, hd_percentile; and
    # the two consensus masks differ here (by 48 pixels), so the consensus
    # asked for is the one used.
    masks = _image(4, seed=3)
    assert not np.array_equal(staple(masks).mask, majority_vote(masks))
    pred = disc((32, 32), (17, 15), 9)
    options = dict(spacing=(0.8, 1.3), tolerance=1.5, hd_percentile="max")
    metrics = ["dice", "jaccard", "threshold_jaccard", "hd95", "assd", "surface_dice"]
    result = score_segmentation(
        pred,
        masks,
        metrics,
        annotators=list("ABCD"),
        consensus=consensus,
        image_id="img",
        **options,
    )
    base = ["dice", "jaccard", "hd95", "assd", "surface_dice"]
    model = pairwise_agreement(np.concatenate([pred[None], masks]), base, **options)
    model = model[model["index1"] == 0]
    human = pairwise_agreement(masks, base, **options)
    reference = staple(masks).mask if consensus == "staple" else majority_vote(masks)
    against = pairwise_agreement(np.stack([pred, reference]), base, **options).iloc[0]
    for name in base:
        row = result.summary.set_index("metric").loc[name]
        assert row["model_mean"] == pytest.approx(model[name].mean())
        assert row["model_min"] == pytest.approx(model[name].min())
        assert row["model_max"] == pytest.approx(model[name].max())
        assert row["human_mean"] == pytest.approx(human[name].mean())
        assert row["human_min"] == pytest.approx(human[name].min())
        assert row["human_max"] == pytest.approx(human[name].max())
        assert row["model_consensus"] == pytest.approx(against[name])
        np.testing.assert_allclose(result.annotators[name], model[name])
    thresholded = np.where(model["jaccard"] < 0.65, 0.0, model["jaccard"])
    row = result.summary.set_index("metric").loc["threshold_jaccard"]
    assert row["model_mean"] == pytest.approx(thresholded.mean())
    assert result.annotators["annotator"].tolist() == list("ABCD")
    assert (result.summary["image_id"] == "img").all()
    assert (result.summary["n_annotators"] == 4).all()


def test_score_segmentation_default_tolerance_and_threshold_bounds():
    masks = _image(3, seed=2)
    pred = disc((32, 32), (15, 17), 7)
    default = score_segmentation(pred, masks, ["surface_dice"]).summary
    explicit = score_segmentation(pred, masks, ["surface_dice"], tolerance=2.0).summary
    pd.testing.assert_frame_equal(default, explicit)
    # Both ends of the threshold are accepted: 1.0 keeps only perfect overlaps.
    assert threshold_jaccard(masks[0], masks[0], 1.0) == 1.0
    assert threshold_jaccard(masks[0], masks[1], 1.0) == 0.0
    assert threshold_jaccard(masks[0], masks[1], 0.0) == jaccard(masks[0], masks[1])


def _percentile_by_definition(model, pairs, lower_is_better):
    """Share (%) of annotator pairs agreeing less than the model, ties half."""
    score = 0.0
    for value in pairs:
        if math.isclose(value, model, rel_tol=1e-9, abs_tol=1e-12):
            score += 0.5
        elif (value > model) if lower_is_better else (value < model):
            score += 1.0
    return 100.0 * score / len(pairs)


def test_percentile_ties_only_within_the_last_bits():
    # A pair value 1e-7 above the model's is a better pair, not a tie: ties are
    # only the last-bit differences of a mean (rtol 1e-9), not numpy's 1e-5.

    human = np.array([0.5 + 1e-7, 0.5 + 1e-13, 0.4])
    assert _percentile(0.5, human, lower_is_better=False) == pytest.approx(100 * 1.5 / 3)
    assert _percentile(0.5, human, lower_is_better=True) == pytest.approx(100 * 1.5 / 3)
    assert _percentile(0.5, human[:1], lower_is_better=True) == 100.0
    # Near zero the absolute tolerance is 1e-12, not numpy's 1e-8.
    zeros = np.array([0.0, 0.0, 2.0, 2.0])
    assert _percentile(1e-9, zeros, lower_is_better=True) == 50.0
    assert _percentile(1e-13, zeros, lower_is_better=True) == 75.0


@pytest.mark.filterwarnings("ignore::skiaa.agreement.EmptyMaskWarning")
@given(st.integers(0, 10_000), st.integers(2, 5))
def test_percentile_by_definition_in_each_metric_direction(seed, k):
    rng = np.random.default_rng(seed)
    masks = rng.random((k, 9, 9)) < 0.5
    pred = rng.random((9, 9)) < 0.5
    assume(pred.any() and masks.reshape(k, -1).any(axis=1).all())
    # Majority vote: STAPLE's EM on noise-like masks takes many iterations.
    result = score_segmentation(pred, masks, ["dice", "hd95"], consensus="majority")
    result = result.summary.set_index("metric")
    human = pairwise_agreement(masks, ["dice", "hd95"])
    for metric, lower in (("dice", False), ("hd95", True)):
        pairs = human[metric].tolist()
        model = result.loc[metric, "model_mean"]
        expected = _percentile_by_definition(model, pairs, lower)
        assert result.loc[metric, "percentile"] == pytest.approx(expected)


@given(st.integers(0, 10_000))
def test_scores_do_not_depend_on_the_order_of_annotators(seed):
    rng = np.random.default_rng(seed)
    masks = rng.random((4, 8, 8)) < 0.5
    pred = rng.random((8, 8)) < 0.5
    assume(pred.any() and masks.reshape(4, -1).any(axis=1).all())
    cols = ["model_mean", "model_min", "model_max", "human_mean", "human_min", "human_max"]
    cols += ["percentile"]
    a = score_segmentation(pred, masks, ["dice", "hd95"], consensus="majority").summary
    b = score_segmentation(pred, masks[::-1], ["dice", "hd95"], consensus="majority").summary
    np.testing.assert_allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), atol=1e-12)


def test_a_perfect_prediction_beats_every_pair_and_a_bad_one_none():
    masks = _image(3, seed=2)
    truth = majority_vote(masks)
    perfect = score_segmentation(masks[0], masks, ["dice"]).summary.iloc[0]
    assert perfect["model_max"] == 1.0
    far = np.zeros_like(truth)
    far[:4, :4] = True
    bad = score_segmentation(far, masks, ["dice", "hd95"]).summary.set_index("metric")
    assert bad.loc["dice", "percentile"] == 0.0
    assert bad.loc["hd95", "percentile"] == 0.0


def test_consensus_masks_are_not_annotators_and_errors():
    masks = _image(3, seed=3)
    codes = ["A01", "A02", "ST"]
    result = score_segmentation(masks[0], masks, ["dice"], annotators=codes)
    assert result.annotators["annotator"].tolist() == ["A01", "A02"]
    assert result.summary["n_annotators"].iloc[0] == 2
    # With two annotators the one pair gives 0, 50 or 100.
    assert result.summary["percentile"].iloc[0] in (0.0, 50.0, 100.0)
    with pytest.raises(ValueError, match="image x: .*at least 2 annotator masks"):
        score_segmentation(masks[0], masks[:1], image_id="x")
    with pytest.raises(ValueError, match="image x: the prediction and the annotators"):
        score_segmentation(masks[0, :5], masks, image_id="x")
    with pytest.raises(ValueError, match="unknown metric 'dise'"):
        score_segmentation(masks[0], masks, ["dise"])
    with pytest.raises(ValueError, match="consensus"):
        score_segmentation(masks[0], masks, consensus="mean")
    with pytest.raises(ValueError, match=r"\{0, 1\}"):
        score_segmentation(masks[0] * 0.5, masks)


def test_empty_prediction_gives_nan_distances_with_a_named_warning():
    masks = _image(3, seed=4)
    with pytest.warns(EmptyMaskWarning, match="image e, prediction and mask 0"):
        result = score_segmentation(np.zeros((32, 32)), masks, ["dice", "hd95"], image_id="e")
    rows = result.summary.set_index("metric")
    assert rows.loc["dice", "model_mean"] == 0.0
    assert math.isnan(rows.loc["hd95", "model_mean"])
    assert math.isnan(rows.loc["hd95", "percentile"])
    assert not math.isnan(rows.loc["hd95", "human_mean"])


def test_score_segmentation_of_volumes_with_spacing():
    rng = np.random.default_rng(5)
    zz, yy, xx = np.mgrid[:12, :16, :16]
    masks = np.stack(
        [(zz - 6) ** 2 + (yy - 8 + rng.normal(0, 1)) ** 2 + (xx - 8) ** 2 <= 25 for _ in range(3)]
    )
    pred = (zz - 6) ** 2 + (yy - 8) ** 2 + (xx - 8) ** 2 <= 30
    result = score_segmentation(pred, masks, ["dice", "hd95"], spacing=(2.0, 1.0, 1.0))
    pairs = pairwise_agreement(np.concatenate([pred[None], masks]), ["hd95"], spacing=(2, 1, 1))
    expected = pairs[pairs["index1"] == 0]["hd95"].mean()
    assert result.summary.set_index("metric").loc["hd95", "model_mean"] == pytest.approx(expected)


# --------------------------------------------------------------------------- #
# summarize_scores
# --------------------------------------------------------------------------- #
def test_summarize_scores_counts_and_propagates_nan():
    tables = [
        score_segmentation(disc((32, 32), (16, 16), 8 + s), _image(3, seed=s), image_id=s)
        for s in range(4)
    ]
    per_image = pd.concat([t.summary for t in tables], ignore_index=True)
    summary = summarize_scores(per_image)
    dice_rows = per_image[per_image["metric"] == "dice"]
    assert summary.loc["dice", "n_images"] == 4
    assert summary.loc["dice", "model_mean"] == pytest.approx(dice_rows["model_mean"].mean())
    shares = summary.loc["dice", ["worse_than_humans", "within_human_range", "better_than_humans"]]
    assert shares.sum() == pytest.approx(1.0)
    inside = (dice_rows["human_min"] <= dice_rows["model_mean"]) & (
        dice_rows["model_mean"] <= dice_rows["human_max"]
    )
    assert summary.loc["dice", "within_human_range"] == pytest.approx(inside.mean())
    broken = per_image.copy()
    broken.loc[broken["metric"] == "hd95", "model_mean"] = [np.nan, 1.0, 1.0, 1.0]
    summary = summarize_scores(broken)
    assert math.isnan(summary.loc["hd95", "model_mean"])  # not the mean of the other three
    assert summary.loc["hd95", "n_undefined"] == 1
    assert math.isnan(summary.loc["hd95", "within_human_range"])
    with pytest.raises(ValueError, match="percentile"):
        summarize_scores(per_image.drop(columns="percentile"))


def test_summarize_scores_every_column_by_hand():
    # Each column computed by hand on a table built to hit the edges: a model
    # exactly on the annotators' worst or best pair is within their range (both
    # bounds inclusive), "better" means lower for a distance and higher for an
    # overlap, a NaN anywhere in a column makes its mean NaN, and the metrics
    # keep the order in which they first appear (not alphabetical).
    nan = math.nan
    scores = pd.DataFrame(
        {
            "image_id": ["a", "b", "c", "d", "e", "a", "b", "c", "d", "e"],
            "metric": ["hd95"] * 5 + ["dice"] * 5,
            # hd95: lower is better. a and e below the best pair, b on hi, c on
            # lo, d above: two better, one worse, so that reading hd95 as
            # higher-is-better gives other shares.
            # dice: higher is better. a and e above the best pair, b on hi, c on
            # lo, d below: read as lower-is-better, the shares would differ too.
            "model_mean": [1.0, 5.0, 2.0, 9.0, 1.5, 0.95, 0.9, 0.7, 0.5, 0.99],
            "model_consensus": [1.0, 2.0, 3.0, 4.0, 5.0, 0.9, nan, 0.7, 0.5, 0.6],
            "human_mean": [3.0] * 5 + [0.8] * 5,
            "human_min": [2.0] * 5 + [0.7] * 5,
            "human_max": [5.0] * 5 + [0.9] * 5,
            "percentile": [100.0, 0.0, 50.0, 0.0, 100.0, 100.0, 50.0, 0.0, nan, 100.0],
        }
    )
    summary = summarize_scores(scores)
    assert summary.index.name == "metric"
    assert list(summary.index) == ["hd95", "dice"]
    assert list(summary.columns) == [
        "n_images",
        "model_mean",
        "model_consensus",
        "human_mean",
        "percentile_median",
        "worse_than_humans",
        "within_human_range",
        "better_than_humans",
        "n_undefined",
    ]
    hd95, dice = summary.loc["hd95"], summary.loc["dice"]
    assert hd95["n_images"] == 5
    assert hd95["model_mean"] == pytest.approx(18.5 / 5)
    assert hd95["model_consensus"] == pytest.approx(3.0)
    assert hd95["human_mean"] == pytest.approx(3.0)
    assert hd95["percentile_median"] == pytest.approx(50.0)
    # hd95: a (1 < 2), e (1.5 < 2) better; b (5 == hi), c (2 == lo) within; d (9 > 5) worse.
    assert (hd95["better_than_humans"], hd95["within_human_range"]) == (0.4, 0.4)
    assert hd95["worse_than_humans"] == 0.2
    # dice: a (0.95 > 0.9) and e better; b (== hi) and c (== lo) within; d (0.5 < 0.7) worse.
    assert (dice["better_than_humans"], dice["within_human_range"]) == (0.4, 0.4)
    assert dice["worse_than_humans"] == 0.2
    assert dice["n_images"] == 5
    # A NaN consensus score or percentile is not skipped: the mean is NaN.
    assert math.isnan(dice["model_consensus"]) and math.isnan(dice["percentile_median"])
    assert dice["n_undefined"] == 0  # model_mean and human_mean are all defined
    # An undefined human mean counts its image, whatever the model: one count
    # per image, not one per table.
    scores.loc[[5, 6], "human_mean"] = nan
    assert summarize_scores(scores).loc["dice", "n_undefined"] == 2
    assert math.isnan(summarize_scores(scores).loc["dice", "human_mean"])
    # A metric undefined on every image has NaN shares in a float column.
    alone = summarize_scores(scores[scores["metric"] == "dice"].assign(model_mean=nan))
    assert alone["within_human_range"].dtype == np.float64
    assert alone["within_human_range"].isna().all()
    with pytest.raises(ValueError, match="lacks the columns model_consensus$"):
        summarize_scores(scores.drop(columns="model_consensus"))


# --------------------------------------------------------------------------- #
# As a scikit-learn scorer
# --------------------------------------------------------------------------- #
class ThresholdSegmenter(BaseEstimator):
    """A segmentation 'model': pixels darker than ``level`` are lesion."""

    def __init__(self, level=0.5):
        self.level = level

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def predict(self, X):
        return np.asarray(X) < self.level


def _dataset(n=6):
    rng = np.random.default_rng(0)
    images, stacks = [], []
    for i in range(n):
        masks = _image(3, seed=10 + i)
        truth = majority_vote(masks)
        images.append(np.where(truth, 0.3, 0.7) + rng.normal(0, 0.05, truth.shape))
        stacks.append(masks)
    return np.stack(images), stacks


def test_scorer_equals_the_mean_of_score_segmentation():
    X, y = _dataset()
    model = ThresholdSegmenter().fit(X)
    pred = model.predict(X)
    for metric, reference, column in [
        ("dice", "annotators", "model_mean"),
        ("threshold_jaccard", "consensus", "model_consensus"),
        ("hd95", "annotators", "model_mean"),
        ("dice", "percentile", "percentile"),
    ]:
        scorer = make_segmentation_scorer(metric, reference=reference)
        expected = np.mean(
            [score_segmentation(p, m, [metric]).summary[column].iloc[0] for p, m in zip(pred, y)]
        )
        sign = -1 if metric == "hd95" and reference != "percentile" else 1
        assert scorer(model, X, y) == pytest.approx(sign * expected)


@pytest.mark.parametrize(
    ("metric", "reference", "options"),
    [
        ("dice", "consensus", {"consensus": "majority"}),
        ("threshold_jaccard", "annotators", {"threshold": 0.3}),
        ("hd95", "annotators", {"hd_percentile": "max"}),
        ("hd95", "percentile", {"hd_percentile": "max", "consensus": "majority"}),
    ],
)
def test_scorer_passes_its_options_to_score_segmentation(metric, reference, options):
    X, y = _dataset()
    model = ThresholdSegmenter(level=0.3).fit(X)
    pred = model.predict(X)
    column = {"annotators": "model_mean", "consensus": "model_consensus"}.get(
        reference, "percentile"
    )

    def mean_score(**kwargs):
        return np.mean(
            [
                score_segmentation(p, m, [metric], **kwargs).summary[column].iloc[0]
                for p, m in zip(pred, y)
            ]
        )

    expected = mean_score(**options)
    assert expected != pytest.approx(mean_score())  # the options change the number
    # Lower-is-better distances are negated, except as a percentile of the annotators.
    sign = -1 if metric == "hd95" and reference != "percentile" else 1
    scorer = make_segmentation_scorer(metric, reference=reference, **options)
    assert scorer(model, X, y) == pytest.approx(sign * expected)


def test_scorer_in_cross_validation_and_grid_search():
    X, y = _dataset(6)
    scorer = make_segmentation_scorer("dice")
    cv = cross_validate(ThresholdSegmenter(), X, y, scoring=scorer, cv=3)
    assert cv["test_score"].shape == (3,) and (cv["test_score"] > 0.8).all()
    search = GridSearchCV(
        ThresholdSegmenter(), {"level": [0.1, 0.5, 0.9]}, scoring=scorer, cv=2
    ).fit(X, y)
    assert search.best_params_ == {"level": 0.5}
    with pytest.raises(ValueError, match="reference"):
        make_segmentation_scorer(reference="truth")
    with pytest.raises(ValueError, match="unknown metric"):
        make_segmentation_scorer("dise")


def test_scorer_with_an_empty_prediction_is_nan_or_the_worst_case():
    X, y = _dataset(2)
    model = ThresholdSegmenter(level=-1.0).fit(X)  # predicts nothing
    with pytest.warns(EmptyMaskWarning) as record:
        assert math.isnan(make_segmentation_scorer("hd95")(model, X, y))
    # Each warning names the image by its position in X.
    assert {str(r.message).split(",")[0] for r in record} == {"image 0", "image 1"}
    worst = make_segmentation_scorer("hd95_normalized", empty="worst")(model, X, y)
    assert worst == -1.0
    with pytest.raises(ValueError, match="empty"):
        make_segmentation_scorer("hd95", empty="zero")


def test_per_annotator_table_names_the_image_and_each_masks_position():
    X, y = _dataset(1)
    pred = ThresholdSegmenter().fit(X).predict(X)[0]
    # Release names are read as skiaa's; the consensus masks are left out.
    result = score_segmentation(
        pred,
        y[0],
        ["dice_score", "threshold_jaccard", "hd95_score"],
        annotators=["A1", "ST", "A2", "A3"][: len(y[0])],
        image_id="ISIC_1",
    )
    table = result.annotators
    n = len(y[0])
    keep = [i for i, code in enumerate(["A1", "ST", "A2", "A3"][:n]) if code != "ST"]
    assert list(table.columns) == [
        "image_id",
        "index",
        "annotator",
        "dice",
        "threshold_jaccard",
        "hd95",
    ]
    assert table["image_id"].tolist() == ["ISIC_1"] * len(keep)
    assert table["index"].tolist() == keep
    assert result.summary["metric"].tolist() == ["dice", "threshold_jaccard", "hd95"]
    for row in table.itertuples():
        assert row.dice == pytest.approx(dice(pred, y[0][row.index]))
    anonymous = score_segmentation(pred, y[0], "dice").annotators
    assert list(anonymous.columns) == ["index", "dice"]
    assert anonymous["index"].tolist() == list(range(n))


@pytest.mark.parametrize("image_id", ["img7", None])
def test_score_segmentation_messages_name_the_image_when_given(image_id):
    masks = np.zeros((3, 6, 6), bool)
    masks[:, 1:4, 1:4] = True
    masks[2, 0, 0] = True
    pred = masks[0]
    at = "" if image_id is None else f"image {image_id}, "
    prefix = "" if image_id is None else f"image {image_id}: "
    bad_values = "mask 0: mask values must be {0, 1} or {0, 255}, found {0, 3}"
    for args, message in [
        ((pred, masks * 3), f"{prefix}{bad_values}"),
        ((pred * 3, masks), f"{at}pred: {bad_values}"),
        (
            (pred, masks[:1]),
            f"{prefix}scoring against the annotators' range needs at least 2 annotator masks, "
            "got 1",
        ),
    ]:
        with pytest.raises(ValueError) as exc:
            score_segmentation(*args, ["dice"], image_id=image_id)
        assert str(exc.value) == message
    with pytest.raises(ValueError) as exc:
        score_segmentation(pred, masks, ["dice"], annotators=["A", "B"], image_id=image_id)
    assert str(exc.value) == "annotators must have one entry per mask (3), got 2"
    with pytest.raises(ValueError, match="^empty must be 'nan' or 'worst', got 'bad'$"):
        score_segmentation(pred, masks, ["hd95"], empty="bad", image_id=image_id)
    # A float stack with NaN is refused here (NaN is a missing value only to alpha).
    holes = masks.astype(float)
    holes[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"found \{0\.0, 1\.0, nan\}$"):
        score_segmentation(pred, holes, ["dice"], image_id=image_id)
    one_empty = masks.copy()
    one_empty[1] = False
    with pytest.warns(EmptyMaskWarning) as record:
        summary, per_mask = score_segmentation(pred, one_empty, ["hd95"], image_id=image_id)
    assert [str(r.message).split(":")[0] for r in record] == [
        f"{at}prediction and mask 1",
        f"{at}masks 0 and 1",
        f"{at}masks 1 and 2",
    ]
    with pytest.warns(EmptyMaskWarning) as record:
        score_segmentation(np.zeros((6, 6)), masks, ["hd95"], image_id=image_id)
    assert str(record[-1].message).startswith(f"{at}prediction and the consensus: ")
    # The image_id column only when an id is given.
    for table in (summary, per_mask):
        assert ("image_id" in table.columns) == (image_id is not None)
