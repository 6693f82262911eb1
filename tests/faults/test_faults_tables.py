"""Fault injection, tables: every bad table is refused naming table, column and ids.

Each case asserts the error type, that the message names the table, the column
and the first offending id, that outputs of an earlier run are unchanged, and
(for ``skiaa compare``) that fixing the table and rerunning gives exactly the
numbers of a run that never saw the fault.
"""

import json
import re

import numpy as np
import pandas as pd
import pytest

from _helpers import edit_table, table_path, write_release
from skiaa.cli import main
from skiaa.datasets import load_imaplusplus, read_iaa_table

# Few bootstrap resamples: the numbers are compared between runs, not judged.
BOOT = ["--n-resamples", "50"]
LABELS = ["benign"] * 8 + ["malignant"] * 6 + ["indeterminate/benign"]


@pytest.fixture
def release(tmp_path):
    root = tmp_path / "release"
    expected = write_release(root, LABELS)
    return root, expected


@pytest.fixture
def iaa_tables(tmp_path, release):
    """An IAA table and an ISIC metadata table, as ``skiaa compare --iaa`` reads them."""
    root, expected = release
    iaa = tmp_path / "iaa.csv"
    pd.read_csv(table_path(root, "image_metrics")).to_csv(iaa, index=False)
    meta = tmp_path / "meta.csv"
    pd.read_csv(table_path(root, "metadata")).to_csv(meta, index=False)
    return iaa, meta, expected


def _compare(iaa, meta, out, *extra):
    return main(
        ["compare", "--iaa", str(iaa), "--metadata", str(meta), "--out", str(out), *BOOT, *extra]
    )


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _numbers(out):
    record = json.loads((out / "comparison.json").read_text())
    return record["groups"], record["tests"], record["effect_sizes"]


def _error(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err  # one line, no traceback
    return err


# --------------------------------------------------------------------------- #
# skiaa compare --iaa TABLE: bad tables and labels
# --------------------------------------------------------------------------- #
def _duplicate_row(frame):
    return pd.concat([frame, frame.iloc[[3]]], ignore_index=True)


def _iaa_7_5(frame):
    frame.loc[2, "dice_score_mean"] = 7.5
    return frame


def _iaa_negative(frame):
    frame.loc[5, "dice_score_mean"] = -3
    return frame


def _same_image_without_suffix(frame):
    extra = frame.iloc[[4]].copy()
    extra["img_id"] = extra["img_id"].str.replace(".JPG", "", regex=False)
    return pd.concat([frame, extra], ignore_index=True)


def _word_in_value(frame):
    frame["dice_score_mean"] = frame["dice_score_mean"].astype(object)
    frame.loc[1, "dice_score_mean"] = "abc"
    return frame


def _diagnosis_column(frame):
    frame["diagnosis"] = "benign"
    return frame


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            _duplicate_row,
            r"IAA table '.*iaa\.csv': 1 image_id value\(s\) occur in more than one row"
            r".*'ISIC_0000004'",
        ),
        (
            _iaa_7_5,
            r"IAA table '.*iaa\.csv', column 'dice_score_mean': 1 value\(s\) outside \[0, 1\], "
            r"e\.g\. 'ISIC_0000003' \(7\.5\)",
        ),
        (
            _iaa_negative,
            r"column 'dice_score_mean': 1 value\(s\) outside \[0, 1\], "
            r"e\.g\. 'ISIC_0000006' \(-3\)",
        ),
        (
            _same_image_without_suffix,
            r"iaa\.csv': 1 image_id value\(s\) occur in more than one row.*'ISIC_0000005'",
        ),
        (
            _word_in_value,
            r"iaa\.csv', column 'dice_score_mean': non-numeric value 'abc' at 'ISIC_0000002'; "
            r"expected numbers",
        ),
        (
            _diagnosis_column,
            r"iaa\.csv' has column\(s\) \['diagnosis'\] that skiaa derives itself",
        ),
    ],
    ids=[
        "duplicate-row",
        "iaa-7.5",
        "iaa-negative",
        "same-image-with-and-without-suffix",
        "word-in-number",
        "diagnosis-column",
    ],
)
def test_compare_refuses_bad_iaa_table(iaa_tables, tmp_path, capsys, edit, message):
    iaa, meta, _ = iaa_tables
    out = tmp_path / "out"
    assert _compare(iaa, meta, out) == 0
    clean, before = _numbers(out), _snapshot(out)
    good = iaa.read_bytes()
    edit_path = tmp_path / "iaa.csv"
    edit(pd.read_csv(iaa)).to_csv(edit_path, index=False)
    capsys.readouterr()
    assert _compare(edit_path, meta, out, "--force") == 1
    err = _error(capsys)
    assert re.search(message, err), err
    assert _snapshot(out) == before  # nothing earlier changed
    edit_path.write_bytes(good)  # the table fixed: the rerun gives the clean numbers
    assert _compare(edit_path, meta, out, "--force") == 0
    assert _numbers(out) == clean


def test_duplicate_rows_would_have_changed_n(iaa_tables):
    # What the refusal prevents: the repeated row counted twice.
    iaa, meta, expected = iaa_tables
    table = read_iaa_table(iaa, meta)
    assert len(table) == len(expected)
    frame = pd.read_csv(iaa)
    _duplicate_row(frame).to_csv(iaa, index=False)
    with pytest.raises(ValueError, match="'ISIC_0000004'"):
        read_iaa_table(iaa, meta)


def test_conflicting_metadata_rows_are_refused(iaa_tables, tmp_path, capsys):
    iaa, meta, _ = iaa_tables
    frame = pd.read_csv(meta)
    conflict = frame.iloc[[0]].assign(benign_malignant="malignant")
    pd.concat([frame, conflict], ignore_index=True).to_csv(meta, index=False)
    assert _compare(iaa, meta, tmp_path / "out") == 1
    err = _error(capsys)
    assert "metadata table" in err and "meta.csv" in err
    assert "column 'benign_malignant'" in err and "'ISIC_0000001'" in err
    assert "'benign' vs 'malignant'" in err
    assert not (tmp_path / "out").exists()


def test_identical_metadata_rows_are_harmless(iaa_tables, tmp_path):
    iaa, meta, _ = iaa_tables
    assert _compare(iaa, meta, tmp_path / "a") == 0
    frame = pd.read_csv(meta)
    pd.concat([frame, frame.iloc[[0, 1]]], ignore_index=True).to_csv(meta, index=False)
    assert _compare(iaa, meta, tmp_path / "b") == 0
    assert _numbers(tmp_path / "a") == _numbers(tmp_path / "b")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "",
            r"IAA table '.*bad\.csv' is empty; expected comma-separated columns with a header row",
        ),
        ("img_id,dice_score_mean\n", r"IAA table '.*bad\.csv' has a header but no rows"),
        (
            "img_id;dice_score_mean\nISIC_0000001;0,8\n",
            r"bad\.csv' has a single column 'img_id;dice_score_mean' that holds semicolon \(';'\) "
            r"characters; skiaa reads comma-separated tables",
        ),
        ("img_id\tdice_score_mean\nISIC_0000001\t0.8\n", r"holds tab \('\\t'\) characters"),
        (
            "image,score\nISIC_0000001,0.8\n",
            r"bad\.csv' has no image id column \(img_id, image_id or isic_id\); "
            r"it has \['image', 'score'\]",
        ),
    ],
    ids=["empty", "header-only", "semicolon", "tab", "no-id-column"],
)
def test_compare_unreadable_iaa_table(iaa_tables, tmp_path, capsys, content, message):
    _, meta, _ = iaa_tables
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    assert _compare(bad, meta, tmp_path / "out") == 1
    err = _error(capsys)
    assert re.search(message, err), err


def test_compare_empty_metadata_names_its_columns(iaa_tables, tmp_path, capsys):
    iaa, meta, _ = iaa_tables
    meta.write_text("")
    assert _compare(iaa, meta, tmp_path / "out") == 1
    err = _error(capsys)
    assert "metadata table" in err and "is empty" in err and "(isic_id, benign_malignant)" in err


def test_mixed_type_labels_get_a_message_not_a_sort_error(iaa_tables, tmp_path, capsys):
    iaa, meta, _ = iaa_tables
    frame = pd.read_csv(meta).astype({"benign_malignant": object})
    frame.loc[0, "benign_malignant"] = 1
    frame.to_csv(meta, index=False)
    assert _compare(iaa, meta, tmp_path / "out") == 1
    err = _error(capsys)
    assert "column 'benign_malignant': unknown value(s) ['1']" in err
    assert "not supported" not in err


# --------------------------------------------------------------------------- #
# load_imaplusplus (and through it skiaa compare --imaplusplus and the study)
# --------------------------------------------------------------------------- #
def _repeat(rows):
    return lambda frame: pd.concat([frame, frame.iloc[rows]], ignore_index=True)


def _mirror_pair(frame):
    extra = frame.iloc[[0]].copy()
    extra[["mask1", "mask2"]] = extra[["mask2", "mask1"]].to_numpy()
    extra[["annotator1", "annotator2"]] = extra[["annotator2", "annotator1"]].to_numpy()
    return pd.concat([frame, extra], ignore_index=True)


def _set(column, row, value):
    def edit(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame

    return edit


def _add(column, value):
    return lambda frame: frame.assign(**{column: value})


_SEG = "IMAplusplus_multiannotator_subset_seg_metadata.csv"
_PAIRS = "IMAplusplus_multiannotator_subset_IAA_metrics.csv"
_IMAGES = "IMAplusplus_multiannotator_subset_image_level_metrics.csv"
_META = "IMAplusplus_img_metadata.csv"


@pytest.mark.parametrize(
    ("key", "edit", "message"),
    [
        (
            "masks",
            _repeat([1]),
            rf"'{_SEG}': 1 seg_filename value\(s\) occur in more than one row"
            r".*'ISIC_0000001_A02_T3_S2_obj1\.png'",
        ),
        (
            "pairs",
            _repeat([0]),
            rf"'{_PAIRS}': 1 img_id/mask1/mask2 \(in either order\) value\(s\) occur in more "
            r"than one row.*'ISIC_0000001\.JPG/",
        ),
        (
            "pairs",
            _mirror_pair,
            rf"'{_PAIRS}': 1 img_id/mask1/mask2 \(in either order\) value\(s\)",
        ),
        (
            "pairs",
            _set("dice_score", 4, 1.5),
            rf"'{_PAIRS}', column 'dice_score': 1 value\(s\) outside \[0, 1\], "
            r"e\.g\. 'ISIC_0000001\.JPG/",
        ),
        (
            "pairs",
            _set("dice_score", 4, "x"),
            rf"'{_PAIRS}', column 'dice_score': non-numeric value 'x'",
        ),
        (
            "image_metrics",
            _repeat([2]),
            rf"'{_IMAGES}': 1 img_id value\(s\) occur in more than one row.*'ISIC_0000003\.JPG'",
        ),
        (
            "image_metrics",
            _set("dice_score_mean", 0, 7.5),
            rf"'{_IMAGES}', column 'dice_score_mean': 1 value\(s\) outside \[0, 1\], "
            r"e\.g\. 'ISIC_0000001\.JPG' \(7\.5\)",
        ),
        (
            "image_metrics",
            _set("dice_score_std", 0, -0.1),
            r"column 'dice_score_std': 1 value\(s\) outside \[0, inf\)",
        ),
        (
            "image_metrics",
            _add("iaa", 0.5),
            rf"'{_IMAGES}' has column\(s\) \['iaa'\] that skiaa derives itself",
        ),
        ("image_metrics", _add("n_masks", 3), rf"'{_IMAGES}' has column\(s\) \['n_masks'\]"),
        (
            "image_metrics",
            _add("diagnosis", "benign"),
            rf"'{_IMAGES}' has column\(s\) \['diagnosis'\]",
        ),
        (
            "image_metrics",
            _add("n_pairs", 4),
            rf"'{_IMAGES}', column 'n_pairs': 15 image\(s\) disagree with the pairs table, "
            r"e\.g\. 'ISIC_0000001' \(4 stated, 3 annotator pairs listed\)",
        ),
        (
            "metadata",
            lambda f: pd.concat([f, f.iloc[[0]].assign(benign_malignant="malignant")]),
            rf"'{_META}': 1 isic_id value\(s\) occur in rows that differ in column "
            r"'benign_malignant', e\.g\. 'ISIC_0000001': 'benign' vs 'malignant'",
        ),
        (
            "metadata",
            lambda f: pd.concat([f, f.iloc[[1]].assign(age_approx=80)]),
            r"differ in column 'age_approx', e\.g\. 'ISIC_0000002': 50 vs 80",
        ),
    ],
    ids=[
        "mask-row-twice",
        "pair-row-twice",
        "pair-mirrored",
        "pair-dice-1.5",
        "pair-dice-word",
        "image-row-twice",
        "image-iaa-7.5",
        "image-std-negative",
        "extra-iaa",
        "extra-n_masks",
        "extra-diagnosis",
        "n_pairs-disagrees",
        "metadata-conflict-label",
        "metadata-conflict-other",
    ],
)
def test_load_imaplusplus_refuses(release, key, edit, message):
    root, _ = release
    edit_table(root, key, edit)
    with pytest.raises(ValueError, match=message):
        load_imaplusplus(root)


def test_load_imaplusplus_counts_without_faults(release):
    root, expected = release
    images = load_imaplusplus(root).set_index("image_id")
    expected = expected.set_index("image_id")
    np.testing.assert_allclose(images["iaa"], expected["iaa"])
    assert (images["n_masks"] == 3).all() and (images["n_pairs"] == 3).all()


def test_metadata_columns_named_like_ours_keep_a_suffix(release):
    # ISIC exports may carry "diagnosis" or anything else: ours are never replaced.
    root, expected = release
    edit_table(root, "metadata", _add("iaa", 0.5))
    edit_table(root, "metadata", _add("diagnosis", "nevus"))
    images = load_imaplusplus(root).set_index("image_id")
    np.testing.assert_allclose(images["iaa"], expected.set_index("image_id")["iaa"])
    assert (images["iaa_metadata"] == 0.5).all()
    assert set(images["diagnosis"]) == {"benign", "malignant", "indeterminate"}
    assert (images["diagnosis_metadata"] == "nevus").all()


def test_load_imaplusplus_accepts_n_pairs_that_agree_and_identical_metadata(release):
    # skiaa agreement writes n_pairs; when it agrees with the pairs it is no fault,
    # and a metadata row repeated exactly changes nothing.
    root, expected = release
    before = load_imaplusplus(root)
    edit_table(root, "image_metrics", _add("n_pairs", 3))
    edit_table(root, "metadata", _repeat([0, 3]))
    after = load_imaplusplus(root)
    pd.testing.assert_frame_equal(before, after)


def test_compare_imaplusplus_fault_leaves_earlier_outputs(release, tmp_path, capsys):
    root, _ = release
    out = tmp_path / "out"
    args = ["compare", "--imaplusplus", str(root), "--out", str(out), *BOOT]
    assert main(args) == 0
    clean, before = _numbers(out), _snapshot(out)
    good = table_path(root, "masks").read_bytes()
    edit_table(root, "masks", _repeat([0]))
    capsys.readouterr()
    assert main([*args, "--force"]) == 1
    err = _error(capsys)
    assert _SEG in err and "seg_filename" in err and "ISIC_0000001_A01_T1_S1_obj0.png" in err
    assert _snapshot(out) == before
    table_path(root, "masks").write_bytes(good)
    assert main([*args, "--force"]) == 0
    assert _numbers(out) == clean


# --------------------------------------------------------------------------- #
# Labels (NaN/None labels once gave "'<' not supported")
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (
            ["a", "b", None, "a"],
            r"y holds 1 missing label\(s\) \(None or NaN; first at position 2\)",
        ),
        (["a", "b", np.nan, "a"], r"first at position 2"),
        (pd.Series(["a", pd.NA, "b", "a"]), r"first at position 1"),
        ([0.0, 1.0, np.nan, 1.0], r"y holds 1 missing label"),
        (
            ["a", "b", 1, "a"],
            r"y mixes text and numeric labels \(e\.g\. 'a' at position 0 and 1 at",
        ),
    ],
    ids=["None", "nan-among-strings", "pandas-NA", "nan-among-numbers", "mixed-types"],
)
def test_bad_labels_are_named_not_sorted(labels, message):
    from skiaa.utils._labels import check_labels

    with pytest.raises(ValueError, match=message):
        check_labels(labels, "y")
    with pytest.raises(ValueError, match=message.replace("y ", "groups ", 1)):
        from skiaa.stats import compare_groups

        compare_groups(np.arange(4.0), labels, positive="a")


def test_classifier_refuses_bad_labels_before_training():
    # np.asarray would have made None, NaN and 1 the classes "None", "nan", "1".
    torch = pytest.importorskip("torch")
    del torch
    from skiaa import MultiTaskDiagnosisClassifier

    X = np.zeros((4, 8, 8, 3), np.uint8)
    clf = MultiTaskDiagnosisClassifier(model="test_resnet", image_size=8, max_epochs=1)
    for labels in (["a", "b", None, "a"], ["a", "b", np.nan, "a"], ["a", "b", 1, "a"]):
        with pytest.raises(ValueError, match=r"^y (holds 1 missing|mixes text)"):
            clf.fit(X, labels, iaa=[0.5] * 4)
        assert not hasattr(clf, "classes_")


# --------------------------------------------------------------------------- #
# External datasets' ground-truth tables (ISIC 2018 layout)
# --------------------------------------------------------------------------- #
def _isic2018(root, train_ids, test_ids):
    from skiaa.datasets._external import ISIC2018_CLASSES

    for split, ids in (("Training", train_ids), ("Test", test_ids)):
        (root / f"ISIC2018_Task3_{split}_Input").mkdir(parents=True, exist_ok=True)
        onehot = {c: [1.0 if c == "NV" else 0.0] * len(ids) for c in ISIC2018_CLASSES}
        pd.DataFrame({"image": ids, **onehot}).to_csv(
            root / f"ISIC2018_Task3_{split}_GroundTruth.csv", index=False
        )


def test_external_image_listed_twice_or_in_two_splits(tmp_path):
    from skiaa.datasets import load_isic2018

    root = tmp_path / "isic2018"
    _isic2018(root, ["ISIC_0000001", "ISIC_0000002"], ["ISIC_0000003"])
    frame = load_isic2018(root, splits=("train", "test"), on_missing="flag")
    assert len(frame) == 3
    _isic2018(root, ["ISIC_0000001", "ISIC_0000002", "ISIC_0000001"], ["ISIC_0000003"])
    with pytest.raises(
        ValueError,
        match=r"ISIC 2018 table 'ISIC2018_Task3_Training_GroundTruth\.csv': 1 image value\(s\) "
        r"occur in more than one row .*'ISIC_0000001'",
    ):
        load_isic2018(root, splits=("train", "test"), on_missing="flag")
    _isic2018(root, ["ISIC_0000001", "ISIC_0000002"], ["ISIC_0000002"])  # test leaks
    with pytest.raises(
        ValueError,
        match=r"1 image_id value\(s\) occur in rows that differ in column 'split', "
        r"e\.g\. 'ISIC_0000002': 'train' vs 'test'",
    ):
        load_isic2018(root, splits=("train", "test"), on_missing="flag")


# --------------------------------------------------------------------------- #
# Blank rows: a line of commas alone is no row; a row without its id is named
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("which", ["iaa", "metadata"])
@pytest.mark.parametrize("where", ["last", "middle"])
def test_lines_of_commas_alone_are_not_rows(iaa_tables, tmp_path, capsys, which, where):
    iaa, meta, _ = iaa_tables
    assert _compare(iaa, meta, tmp_path / "clean") == 0
    path = iaa if which == "iaa" else meta
    lines = path.read_text().splitlines()
    blank = "," * (lines[0].count(","))
    at = len(lines) if where == "last" else 3
    path.write_text("\n".join([*lines[:at], blank, *lines[at:]]) + "\n")
    assert _compare(iaa, meta, tmp_path / "out") == 0
    assert "nan" not in capsys.readouterr().err
    assert _numbers(tmp_path / "out") == _numbers(tmp_path / "clean")


@pytest.mark.parametrize("which", ["iaa", "metadata"])
def test_row_without_an_id_is_named_by_its_line(iaa_tables, tmp_path, capsys, which):
    iaa, meta, _ = iaa_tables
    path = iaa if which == "iaa" else meta
    frame = pd.read_csv(path)
    column = "img_id" if which == "iaa" else "isic_id"
    frame.loc[4, column] = np.nan
    frame.to_csv(path, index=False)
    out = tmp_path / "out"
    assert _compare(iaa, meta, out) == 1
    err = _error(capsys)
    name = "IAA table" if which == "iaa" else "metadata table"
    key = "image_id" if which == "iaa" else "isic_id"
    assert f"{name} '{path}', column '{key}': 1 row(s) without a value, at line 6" in err
    assert "fill in or remove those rows" in err
    assert not out.exists()
