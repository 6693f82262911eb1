"""Readers of ISIC 2018, ISIC 2019, derm7pt and PH2 on tiny fake releases."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skiaa.datasets import (
    load_derm7pt,
    load_images,
    load_isic2018,
    load_isic2019,
    load_ph2,
)

_TINY = np.full((6, 8, 3), 128, dtype=np.uint8)


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_TINY).save(path)


def _one_hot_csv(path, classes, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(
        [{"image": image, **{c: float(c == cls) for c in classes}} for image, cls in rows]
    )
    table.to_csv(path, index=False)


ISIC18 = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
ISIC19 = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]


@pytest.fixture
def isic2018(tmp_path):
    root = tmp_path / "isic2018"
    content = {
        "Training": [("ISIC_0000001", "MEL"), ("ISIC_0000002", "NV"), ("ISIC_0000003", "BKL")],
        "Validation": [("ISIC_0000010", "NV"), ("ISIC_0000011", "MEL")],
        "Test": [("ISIC_0000020", "VASC")],
    }
    for split, rows in content.items():
        name = f"ISIC2018_Task3_{split}_GroundTruth"
        _one_hot_csv(root / name / f"{name}.csv", ISIC18, rows)
        for image, _ in rows:
            _image(root / f"ISIC2018_Task3_{split}_Input" / f"{image}.jpg")
    return root


def test_isic2018(isic2018):
    df = load_isic2018(isic2018)
    assert df["image_id"].tolist() == [
        "ISIC_0000001",
        "ISIC_0000002",
        "ISIC_0000003",
        "ISIC_0000010",
        "ISIC_0000011",
        "ISIC_0000020",
    ]
    assert df["label"].tolist() == [1, 0, 0, 0, 1, 0]
    assert df["diagnosis"].tolist() == ["MEL", "NV", "BKL", "NV", "MEL", "VASC"]
    assert df["split"].tolist() == ["train"] * 3 + ["val"] * 2 + ["test"]
    assert df["image_exists"].all()
    # The paths are usable as is by load_images.
    assert load_images(df["image_path"].tolist(), 4).shape == (6, 4, 4, 3)
    assert load_isic2018(isic2018, splits=["val"])["split"].unique().tolist() == ["val"]


def test_isic2018_two_files_for_one_image_are_named(isic2018):
    folder = isic2018 / "ISIC2018_Task3_Training_Input"
    _image(folder / "ISIC_0000002.png")  # a converted copy beside the .jpg
    with pytest.raises(ValueError) as exc:
        load_isic2018(isic2018)
    assert str(exc.value) == (
        f"ISIC 2018: image 'ISIC_0000002' has more than one file: "
        f"{folder / 'ISIC_0000002.jpg'} and {folder / 'ISIC_0000002.png'}; "
        "keep one file per image"
    )


def test_isic2018_errors(isic2018):
    (isic2018 / "ISIC2018_Task3_Training_Input" / "ISIC_0000002.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="ISIC_0000002"):
        load_isic2018(isic2018)
    flagged = load_isic2018(isic2018, on_missing="flag")
    assert len(flagged) == 6 and flagged["image_exists"].sum() == 5
    assert pd.isna(flagged.loc[1, "image_path"])
    with pytest.raises(ValueError, match="unknown split"):
        load_isic2018(isic2018, splits=["validation"])
    gt = isic2018 / "ISIC2018_Task3_Test_GroundTruth" / "ISIC2018_Task3_Test_GroundTruth.csv"
    pd.read_csv(gt).drop(columns="VASC").to_csv(gt, index=False)
    with pytest.raises(ValueError, match=r"\['VASC'\]"):
        load_isic2018(isic2018, splits=["test"])
    gt.unlink()
    with pytest.raises(FileNotFoundError, match="ISIC2018_Task3_Test_GroundTruth.csv"):
        load_isic2018(isic2018)


def test_isic2018_rejects_non_one_hot(isic2018):
    gt = (
        isic2018
        / "ISIC2018_Task3_Validation_GroundTruth"
        / "ISIC2018_Task3_Validation_GroundTruth.csv"
    )
    table = pd.read_csv(gt)
    table.loc[0, "MEL"] = 1.0  # NV and MEL both set
    table.to_csv(gt, index=False)
    with pytest.raises(ValueError, match="not one-hot.*ISIC_0000010"):
        load_isic2018(isic2018, splits=["val"])


def test_isic2019_train_and_optional_test(tmp_path):
    root = tmp_path / "isic2019"
    rows = [("ISIC_0000001", "MEL"), ("ISIC_0000002", "SCC"), ("ISIC_0000003_downsampled", "NV")]
    _one_hot_csv(root / "ISIC_2019_Training_GroundTruth.csv", ISIC19, rows)
    for image, _ in rows:
        _image(root / "ISIC_2019_Training_Input" / f"{image}.jpg")
    df = load_isic2019(root)
    assert df["label"].tolist() == [1, 0, 0] and set(df["split"]) == {"train"}
    with pytest.raises(FileNotFoundError, match="ISIC_2019_Test_GroundTruth.csv"):
        load_isic2019(root, splits=["train", "test"])
    _one_hot_csv(root / "ISIC_2019_Test_GroundTruth.csv", ISIC19, [("ISIC_0099999", "UNK")])
    _image(root / "ISIC_2019_Test_Input" / "ISIC_0099999.jpg")
    df = load_isic2019(root)
    assert df["split"].tolist() == ["train"] * 3 + ["test"]
    assert df["diagnosis"].tolist()[-1] == "UNK" and df["label"].tolist()[-1] == 0


@pytest.fixture
def derm7pt(tmp_path):
    root = tmp_path / "release_v0"
    meta = pd.DataFrame(
        {
            "case_num": [1, 2, 3, 4, 5],
            "diagnosis": [
                "melanoma (in situ)",
                "clark nevus",
                "melanosis",
                "melanoma metastasis",
                "basal cell carcinoma",
            ],
            "seven_point_score": [3, 0, 1, 4, 1],
            "clinic": [f"A/c{i}.jpg" for i in range(5)],
            "derm": [f"A/d{i}.jpg" for i in range(5)],
        }
    )
    (root / "meta").mkdir(parents=True)
    meta.to_csv(root / "meta" / "meta.csv", index=False)
    for name, idx in [("train", [0, 2]), ("valid", [4]), ("test", [1, 3])]:
        pd.DataFrame({"indexes": idx}).to_csv(root / "meta" / f"{name}_indexes.csv", index=False)
    for d in meta["derm"]:
        _image(root / "images" / d)
    return root


def test_derm7pt(derm7pt):
    df = load_derm7pt(derm7pt)
    assert df["image_id"].tolist() == ["1", "2", "3", "4", "5"]
    # "melanosis" is not melanoma; in-situ and metastasis are.
    assert df["label"].tolist() == [1, 0, 0, 1, 0]
    assert df["split"].tolist() == ["train", "test", "train", "test", "val"]
    assert df["image_path"].str.endswith(".jpg").all() and df["image_exists"].all()
    assert "/d0.jpg" in df.loc[0, "image_path"]  # the dermoscopic, not the clinical image


def test_derm7pt_case_without_its_image_is_named(derm7pt):
    missing = derm7pt / "images" / "A" / "d3.jpg"
    missing.unlink()
    with pytest.raises(FileNotFoundError) as exc:
        load_derm7pt(derm7pt)
    assert str(exc.value) == (
        f"derm7pt: 1 image(s) listed but not found: ['4']; looked for {missing} "
        "(pass on_missing='flag' to keep them)"
    )
    assert load_derm7pt(derm7pt, on_missing="flag")["image_exists"].tolist() == [
        True,
        True,
        True,
        False,
        True,
    ]


def test_derm7pt_errors(derm7pt):
    pd.DataFrame({"indexes": [4, 2]}).to_csv(derm7pt / "meta" / "valid_indexes.csv", index=False)
    with pytest.raises(ValueError, match="row 2 of meta.csv is in two splits"):
        load_derm7pt(derm7pt)
    pd.DataFrame({"indexes": []}).to_csv(derm7pt / "meta" / "valid_indexes.csv", index=False)
    with pytest.raises(ValueError, match="in no split file"):
        load_derm7pt(derm7pt)
    (derm7pt / "meta" / "valid_indexes.csv").unlink()
    with pytest.raises(FileNotFoundError, match="valid_indexes.csv"):
        load_derm7pt(derm7pt)
    meta = pd.read_csv(derm7pt / "meta" / "meta.csv").drop(columns="derm")
    meta.to_csv(derm7pt / "meta" / "meta.csv", index=False)
    with pytest.raises(ValueError, match=r"\['derm'\]"):
        load_derm7pt(derm7pt)


_PH2_TXT = """\
|| Name || Histological Diagnosis || Clinical Diagnosis || Asymmetry || Pigment Network ||
|| IMD003 ||                        ||         0          ||     0     ||        T        ||
|| IMD009 ||                        ||         1          ||     0     ||        T        ||
|| IMD058 ||  Melanoma in situ      ||         2          ||     2     ||        AT       ||

Legends:
|| Clinical Diagnosis: 0 - Common Nevus; 1 - Atypical Nevus; 2 - Melanoma ||
"""


@pytest.fixture
def ph2(tmp_path):
    root = tmp_path / "PH2Dataset"
    root.mkdir()
    (root / "PH2_dataset.txt").write_text(_PH2_TXT)
    for case in ("IMD003", "IMD009", "IMD058"):
        _image(root / "PH2 Dataset images" / case / f"{case}_Dermoscopic_Image" / f"{case}.bmp")
    return root


def test_ph2(ph2):
    df = load_ph2(ph2.parent)  # found one level down
    assert df["image_id"].tolist() == ["IMD003", "IMD009", "IMD058"]
    assert df["diagnosis"].tolist() == ["Common Nevus", "Atypical Nevus", "Melanoma"]
    assert df["label"].tolist() == [0, 0, 1]
    assert df["split"].isna().all()
    assert df.loc[2, "histology"] == "Melanoma in situ"
    assert load_images(df["image_path"].tolist(), 3).shape == (3, 3, 3, 3)


def test_ph2_case_without_its_image_folder_is_named(ph2):
    import shutil

    shutil.rmtree(ph2 / "PH2 Dataset images" / "IMD009")
    expected = ph2 / "PH2 Dataset images" / "IMD009" / "IMD009_Dermoscopic_Image" / "IMD009.bmp"
    with pytest.raises(FileNotFoundError) as exc:
        load_ph2(ph2)
    assert str(exc.value) == (
        f"PH2: 1 image(s) listed but not found: ['IMD009']; looked for {expected} "
        "(pass on_missing='flag' to keep them)"
    )
    flagged = load_ph2(ph2, on_missing="flag")
    assert flagged["image_id"].tolist() == ["IMD003", "IMD009", "IMD058"]  # none dropped
    assert flagged["image_exists"].tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("row", "shown"),
    [
        ("|| imd009 ||  ||  1  ||  0  ||", "|| imd009 ||  ||  1  ||  0  ||"),
        ("|| IMD 009 ||  ||  1  ||  0  ||", "|| IMD 009 ||  ||  1  ||  0  ||"),
        ("|| IMD009 ||", "|| IMD009 ||"),
    ],
    ids=["lower-case", "spaced", "truncated"],
)
def test_ph2_case_row_that_cannot_be_read_is_not_dropped(ph2, row, shown):
    lines = _PH2_TXT.splitlines()
    lines[2] = row
    (ph2 / "PH2_dataset.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as exc:
        load_ph2(ph2)
    assert str(exc.value) == (
        f"PH2_dataset.txt line 3: case row {shown!r} is not "
        "'|| IMDxxx || histology || 0/1/2 || ...'"
    )


def test_ph2_errors(ph2, tmp_path):
    (ph2 / "PH2_dataset.txt").write_text(_PH2_TXT.replace("||         1  ", "||         7  "))
    with pytest.raises(ValueError, match="'7' of IMD009"):
        load_ph2(ph2)
    (ph2 / "PH2_dataset.txt").write_text("nothing here\n")
    with pytest.raises(ValueError, match="no case rows"):
        load_ph2(ph2)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="PH2_dataset.txt"):
        load_ph2(empty)
    with pytest.raises(ValueError, match="on_missing"):
        load_ph2(ph2, on_missing="skip")
