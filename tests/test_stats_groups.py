"""diagnosis_groups: which images a benign vs malignant comparison rests on."""

import numpy as np
import pandas as pd
import pytest

from skiaa.stats import diagnosis_groups


def _table(**overrides):
    table = pd.DataFrame(
        {
            "image_id": ["a", "b", "c", "d", "e"],
            "diagnosis": ["benign", "malignant", "indeterminate", "benign", None],
            "iaa": [0.9, 0.7, 0.8, 0.85, 0.6],
        }
    )
    return table.assign(**overrides)


def test_leaves_out_and_counts_what_is_neither_benign_nor_malignant():
    res = diagnosis_groups(_table())
    assert res.data.tolist() == [0.9, 0.7, 0.85]
    assert res.data.name == "iaa"
    assert res.groups.tolist() == ["benign", "malignant", "benign"]
    assert (res.n_indeterminate, res.n_missing) == (2, 0)


def test_categorical_diagnosis_as_load_imaplusplus_returns_it():
    table = _table(
        diagnosis=pd.Categorical(
            ["benign", "malignant", "indeterminate", "benign", "indeterminate"],
            categories=["benign", "malignant", "indeterminate"],
        )
    )
    assert diagnosis_groups(table).groups.tolist() == ["benign", "malignant", "benign"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, None])
def test_missing_value_raises_naming_the_image_or_is_counted(bad):
    table = _table(iaa=[0.9, bad, 0.8, 0.85, 0.6])
    with pytest.raises(
        ValueError, match=r"1 benign or malignant image\(s\) have no 'iaa' value, e\.g\. 'b'"
    ):
        diagnosis_groups(table)
    res = diagnosis_groups(table, on_missing="drop")
    assert res.data.tolist() == [0.9, 0.85]
    assert (res.n_indeterminate, res.n_missing) == (2, 1)


def test_a_value_that_is_not_a_number_is_missing_and_a_table_without_ids_names_the_row():
    table = _table(iaa=[0.9, "n/a", 0.8, 0.85, 0.6])
    res = diagnosis_groups(table, on_missing="drop")
    assert res.data.tolist() == [0.9, 0.85] and res.n_missing == 1
    with pytest.raises(ValueError) as exc:
        diagnosis_groups(table.drop(columns="image_id").set_axis([10, 11, 12, 13, 14]))
    assert str(exc.value) == ("1 benign or malignant image(s) have no 'iaa' value, e.g. 'row 11'")


def test_a_missing_value_of_a_left_out_image_is_no_error():
    res = diagnosis_groups(_table(iaa=[0.9, 0.7, np.nan, 0.85, np.nan]))
    assert len(res.data) == 3 and res.n_missing == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"no column\(s\) \['dice'\]"):
        diagnosis_groups(_table(), "dice")
    with pytest.raises(ValueError, match="on_missing"):
        diagnosis_groups(_table(), on_missing="flag")
