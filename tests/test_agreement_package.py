"""The agreement package's shared pieces: docstring blocks and the naming rules.

The docstring helper itself is tested in test_docstring_sharing.py.
"""

import inspect

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from _helpers import disc
from skiaa import agreement
from skiaa.agreement import _naming
from skiaa.agreement._engine import summarise_groups


@pytest.mark.parametrize(
    "func", [agreement.hausdorff, agreement.hd95, agreement.assd, agreement.surface_dice]
)
def test_shared_parameter_blocks_sit_at_section_depth(func):
    # The shared Parameters text is indented like the section headers around it
    # (it used to shift right on Python 3.13, which dedents docstrings).
    lines = inspect.getdoc(func).splitlines()
    i = lines.index("Parameters")
    assert lines[i + 1] == "----------"
    assert lines[i + 2].startswith("mask1, mask2 : ")
    for header in ("Returns", "Raises", "See Also"):
        if header in lines:
            assert lines[lines.index(header) + 1].startswith("---")


def test_naming_reads_both_namings():
    skiaa_cols = ["image_id", "dice", "hd95_normalized", "annotator1"]
    release_cols = ["img_id", "dice_score", "hd95_score_normalized", "annotator1"]
    assert _naming.metric_columns(skiaa_cols) == ["dice", "hd95_normalized"]
    assert _naming.metric_columns(release_cols) == ["dice_score", "hd95_score_normalized"]
    for cols in (skiaa_cols, release_cols):
        assert _naming.metric_column(cols, "dice") == cols[1]
        assert _naming.metric_column(cols, "dice_score") == cols[1]
        assert _naming.id_column(cols) == cols[0]
    assert _naming.metric_column(skiaa_cols, "jaccard") is None
    assert _naming.check_metrics(["dice_score", "dice", "hd_score"]) == ["dice", "hausdorff"]
    with pytest.raises(ValueError, match="unknown metric 'hd96'.*Did you mean 'hd95'"):
        _naming.check_metrics(["hd96"])
    with pytest.raises(ValueError, match="unknown statistic 'meen'.*Did you mean 'mean'"):
        _naming.check_statistics("meen")
    with pytest.raises(ValueError, match="distinct"):
        _naming.check_statistics(["mean", "mean"])


def test_every_release_name_round_trips():
    frame = pd.DataFrame(columns=list(_naming.RELEASE_NAMES))
    renamed = frame.rename(columns=_naming.RELEASE_NAMES).rename(columns=_naming.FROM_RELEASE)
    assert list(renamed.columns) == list(frame.columns)
    assert set(_naming.METRICS) == set(_naming.RELEASE_NAMES) - {"image_id"}


def test_release_names_of_per_class_columns_and_other_columns():
    from skiaa.agreement._engine import release_name

    dice = _naming.RELEASE_NAMES["dice"]
    assert release_name("dice") == dice
    assert release_name("dice_label2") == f"{dice}_label2"
    assert release_name("dice_label12") == f"{dice}_label12"
    # Only a metric's per-class column is renamed: not a tail that is not a
    # label number, not a stem that is not a metric, not other columns.
    for column in ("dice_labels", "dice_label", "mask_label1", "annotator1", "index2"):
        assert release_name(column) == column


def test_base_metric_of_per_class_columns_only():
    assert _naming._base_metric("dice_label3") == "dice"
    assert _naming._base_metric("dice_score_label3") == "dice"
    assert _naming._base_metric("x_label_dice_label2") == "x_label_dice"  # the last "_label"
    for column in ("dice_labels", "dice_label", "dice_label_x3"):
        assert _naming._base_metric(column) == column
    assert _naming.metric_columns(["image_id", "dice_labels", "hd95_label2"]) == ["hd95_label2"]


def test_the_options_are_checked_by_every_metric():
    a, b = disc((9, 9), (4, 4), 2), disc((9, 9), (4, 5), 2)
    for metric in (agreement.hd95, agreement.hausdorff, agreement.assd):
        with pytest.raises(ValueError) as exc:
            metric(a, b, empty="zero")
        assert str(exc.value) == "empty must be 'nan' or 'worst', got 'zero'"


def test_value_column_by_either_name_or_an_error_naming_the_table_and_its_metrics():
    assert _naming.value_column(["image_id", "dice_score"], "dice") == "dice_score"
    assert _naming.value_column(["image_id", "dice"], "dice_score") == "dice"
    assert _naming.value_column(["iaa"], "iaa") == "iaa"
    with pytest.raises(ValueError) as exc:
        _naming.value_column(["image_id", "dice", "hd95"], "jaccard")
    assert str(exc.value) == (
        "pairs table lacks the value column 'jaccard'; its metric columns are dice, hd95"
    )
    with pytest.raises(ValueError) as exc:
        _naming.value_column(["image_id"], "jaccard", what="scores")
    assert str(exc.value) == "scores lacks the value column 'jaccard'"


@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=8),
    st.integers(0, 2),
    st.integers(0, 2**32 - 1),
    st.integers(0, 3),
)
# A group of two with ddof=1 (one degree of freedom) in every profile: the
# standard deviation there divides by exactly 1.
@example(sizes=[2, 2], ddof=1, seed=3, lead=0)
def test_summarise_groups_equals_numpy_per_group(sizes, ddof, seed, lead):
    # Groups need not start at row 0: rows before bounds[0] belong to none.
    rng = np.random.default_rng(seed)
    bounds = lead + np.concatenate([[0], np.cumsum(sizes)])
    values = rng.normal(size=(bounds[-1] + 2, 3))
    values[rng.random(values.shape) < 0.1] = np.nan
    stats = list(_naming.STATISTICS)
    out = summarise_groups(values, bounds, stats, ddof)
    funcs = {
        "mean": np.mean,
        "std": lambda v: np.std(v, ddof=ddof) if len(v) - ddof > 0 else np.nan,
        "min": np.min,
        "max": np.max,
        "median": np.median,
    }
    for g, n in enumerate(sizes):
        group = values[bounds[g] : bounds[g + 1]]
        for c in range(3):
            for s, stat in enumerate(stats):
                expected = np.nan if n == 0 else funcs[stat](group[:, c])
                np.testing.assert_allclose(out[g, c, s], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("labels", [None, "all"])
@pytest.mark.parametrize("metric", ["dice", "hd95", "surface_dice"])
def test_a_bad_mask_is_named_by_its_argument(metric, labels):
    func = getattr(agreement, metric)
    good = np.zeros((6, 6), dtype=np.uint8)
    good[1:4, 1:4] = 1
    bad = np.full((6, 6), 1.5)  # neither binary nor a label map of whole numbers
    with pytest.raises(ValueError, match=r"^mask1: "):
        func(bad, good, labels=labels)
    with pytest.raises(ValueError, match=r"^mask2: "):
        func(good, bad, labels=labels)


def test_pairwise_tolerance_defaults_to_two():
    rng = np.random.default_rng(3)
    stack = np.stack(
        [disc((32, 32), (16 + dy, 16 + dx), 8) for dy, dx in rng.integers(-3, 4, (4, 2))]
    )
    metrics = ["surface_dice", "boundary_f1"]
    default = agreement.pairwise_agreement(stack, metrics)
    pd.testing.assert_frame_equal(
        default, agreement.pairwise_agreement(stack, metrics, tolerance=2.0)
    )
    assert not default.equals(agreement.pairwise_agreement(stack, metrics, tolerance=3.0))


def _pairs_table():
    stack = np.zeros((2, 8, 8), dtype=bool)
    stack[:, 2:6, 2:6] = True
    return agreement.pairwise_agreement(stack, ["dice"])


def test_an_unknown_statistic_is_named_with_the_three_closest():
    with pytest.raises(ValueError) as info:
        agreement.image_agreement(_pairs_table(), statistics=["man"])
    assert str(info.value) == (
        "unknown statistic 'man' in statistics; choose from mean, std, min, max, median. "
        "Did you mean 'mean', 'min', 'median'?"
    )
    with pytest.raises(ValueError) as info:
        agreement.image_agreement(_pairs_table(), statistics="zzz")
    assert str(info.value) == (
        "unknown statistic 'zzz' in statistics; choose from mean, std, min, max, median."
    )


def test_agreement_transformer_needs_no_target():
    assert agreement.AgreementTransformer().__sklearn_tags__().target_tags.required is False


def test_one_pair_metric_warns_of_an_empty_mask_in_plain_words():
    a = np.zeros((5, 5), bool)
    b = a.copy()
    b[2, 2] = True
    with pytest.warns(agreement.EmptyMaskWarning) as caught:
        assert np.isnan(agreement.hd95(a, b))
    assert str(caught[0].message) == (
        "one mask is empty and the other is not: boundary distances are undefined and "
        "returned as NaN"
    )
