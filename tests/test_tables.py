"""check_table, read_table, metric_ranges: properties and the messages' contents."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skiaa.datasets import check_table, metric_ranges, read_table

ids = st.lists(st.sampled_from([f"ISIC_{i:07d}" for i in range(8)]), min_size=1, max_size=12)
unit = st.floats(0, 1, allow_nan=False)


@given(ids=ids, data=st.data())
def test_duplicated_keys_are_refused_exactly_when_present(ids, data):
    values = data.draw(st.lists(unit, min_size=len(ids), max_size=len(ids)))
    frame = pd.DataFrame({"img_id": ids, "dice_score_mean": values})
    has_repeats = len(set(ids)) < len(ids)
    if not has_repeats:
        out = check_table(frame, name="T", key=["img_id"])
        pd.testing.assert_frame_equal(out, frame)
        return
    with pytest.raises(ValueError) as exc:
        check_table(frame, name="T", key=["img_id"])
    message = str(exc.value)
    assert message.startswith("T: ")
    # The first id that repeats is named.
    first = next(i for k, i in enumerate(ids) if i in ids[:k])
    if "differ in column 'dice_score_mean'" in message:
        assert any(len({v for i2, v in zip(ids, values) if i2 == i}) > 1 for i in set(ids)), (
            message
        )
    else:
        assert repr(first) in message and "more than one row" in message


@given(ids=ids)
def test_identical_repeats_dropped_for_lookup_tables(ids):
    frame = pd.DataFrame({"isic_id": ids, "benign_malignant": "benign"})
    out = check_table(frame, name="M", key=["isic_id"], identical_duplicates="drop")
    assert list(out["isic_id"]) == list(dict.fromkeys(ids))


@given(
    values=st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=20),
)
def test_range_check_agrees_with_numpy(values):
    frame = pd.DataFrame({"img_id": [f"i{k}" for k in range(len(values))], "dice_score": values})
    arr = np.asarray(values)
    outside = (arr < 0) | (arr > 1)
    if not outside.any():
        check_table(frame, name="P", key=["img_id"])
        return
    first = int(np.flatnonzero(outside)[0])
    with pytest.raises(ValueError, match=rf"'i{first}' \({arr[first]:g}\)") as exc:
        check_table(frame, name="P", key=["img_id"])
    assert f"{int(outside.sum())} value(s) outside [0, 1]" in str(exc.value)


def test_missing_values_are_not_range_errors_but_infinities_are():
    frame = pd.DataFrame({"img_id": ["a", "b"], "hd95_score": [np.nan, 3.0]})
    check_table(frame, name="P", key=["img_id"])
    frame.loc[1, "hd95_score"] = np.inf
    with pytest.raises(ValueError, match=r"column 'hd95_score': 1 value\(s\) outside \[0, inf\)"):
        check_table(frame, name="P", key=["img_id"])


def test_metric_ranges_cover_both_namings():
    ranges = metric_ranges(
        [
            "dice",
            "jaccard_mean",
            "hd95",
            "hd95_normalized_max",
            "dice_score_std",
            "hd_score_normalized",
            "assd_score",
            "surface_dice_score_mean",
            "boundary_f1",
            "iaa",
            "age_approx",
            "n_pairs",
        ]
    )
    unit, positive = (0.0, 1.0), (0.0, np.inf)
    assert ranges == {
        "dice": unit,
        "jaccard_mean": unit,
        "hd95": positive,
        "hd95_normalized_max": unit,
        "dice_score_std": positive,
        "hd_score_normalized": unit,
        "assd_score": positive,
        "surface_dice_score_mean": unit,
        "boundary_f1": unit,
        "iaa": unit,
    }


def test_unordered_pairs_and_ignored_columns():
    pairs = pd.DataFrame({"img_id": ["x", "x"], "mask1": ["a", "b"], "mask2": ["b", "a"]})
    check_table(pairs, name="P", key=["img_id", "mask1", "mask2"])  # ordered: distinct
    with pytest.raises(ValueError, match=r"\(in either order\)"):
        check_table(
            pairs, name="P", key=["img_id", "mask1", "mask2"], unordered=("mask1", "mask2")
        )
    table = pd.DataFrame({"raw": ["a.JPG", "a"], "image_id": ["a", "a"], "v": [0.5, 0.5]})
    with pytest.raises(ValueError, match="differ in column 'raw'"):
        check_table(table, name="T", key=["image_id"])
    with pytest.raises(ValueError, match="more than one row"):
        check_table(table, name="T", key=["image_id"], ignore=["raw"])


def test_read_table_messages(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"table '.*nope\.csv' not found"):
        read_table(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b\n1,"unclosed\n')
    with pytest.raises(ValueError, match=r"bad\.csv' is not a readable CSV table"):
        read_table(bad)
    pipe = tmp_path / "pipe.csv"
    pipe.write_text("a|b\n1|2\n")
    with pytest.raises(ValueError, match=r"holds pipe \('\|'\) characters"):
        read_table(pipe)
    good = tmp_path / "good.csv"
    good.write_text("img_id,dice_score\nx,0.5\ny,0.25\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['mask1'\]; it has"):
        read_table(good, required=["img_id", "mask1"])
    out = read_table(good, name="my table", key=["img_id"], numeric=["dice_score"])
    assert out["dice_score"].tolist() == [0.5, 0.25]
    with pytest.raises(ValueError, match="identical_duplicates"):
        check_table(out, name="x", identical_duplicates="first")
