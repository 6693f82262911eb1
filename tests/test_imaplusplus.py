"""The IMA++ table reader, on fake releases and (when present) the real tables."""

import shutil

import numpy as np
import pandas as pd
import pytest

from _helpers import mask_row
from skiaa.datasets import IMAPLUSPLUS_TABLES, load_imaplusplus

# image id -> (benign_malignant, masks as (annotator, tool, skill))
_FAKE = {
    "ISIC_0000001": ("benign", [("A01", "T1", "S1"), ("A02", "T3", "S2")]),
    "ISIC_0000002": ("malignant", [("A01", "T1", "S1"), ("A01", "T2", "S1"), ("A03", "T3", "S2")]),
    "ISIC_0000003": ("indeterminate/benign", [("A02", "T1", "S2"), ("A03", "T1", "S2")]),
    "ISIC_0000004": ("indeterminate", [("A02", "T1", "S2"), ("A04", "T2", "S1")]),
}


def write_fake_release(folder, rng=None):
    """Write the four IMA++ tables for ``_FAKE``; return the expected per-image IAA."""
    rng = np.random.default_rng(0) if rng is None else rng
    meta, masks, pairs, image_rows, iaa = [], [], [], [], {}
    for image_id, (label, specs) in _FAKE.items():
        meta.append({"isic_id": image_id, "benign_malignant": label, "diagnosis_1": "x"})
        names = [f"{image_id}_{a}_{t}_{s}_obj{k}.png" for k, (a, t, s) in enumerate(specs)]
        for name, (a, t, s) in zip(names, specs):
            masks.append(mask_row(image_id, name, a, t, s, mskObjectID="o", mask_md5="m"))
        for code in ("ST", "MV"):
            name = f"{image_id}_{code}_{code}_{code}_{code}.png"
            masks.append(
                mask_row(image_id, name, code, code, code, mskObjectID=code, mask_md5="m")
            )
        dices = []
        for i in range(len(specs)):
            for j in range(i + 1, len(specs)):
                d = float(rng.uniform(0.5, 1))
                dices.append(d)
                pairs.append(
                    {
                        "img_id": f"{image_id}.JPG",
                        "mask1": names[i],
                        "mask2": names[j],
                        "annotator1": specs[i][0],
                        "annotator2": specs[j][0],
                        "dice_score": d,
                        "tool1": specs[i][1],
                        "skill_level1": specs[i][2],
                        "tool2": specs[j][1],
                        "skill_level2": specs[j][2],
                    }
                )
            pairs.append(
                {
                    "img_id": f"{image_id}.JPG",
                    "mask1": names[i],
                    "mask2": f"{image_id}_ST_ST_ST_ST.png",
                    "annotator1": specs[i][0],
                    "annotator2": "ST",
                    "dice_score": 0.99,
                    "tool1": specs[i][1],
                    "skill_level1": specs[i][2],
                    "tool2": "ST",
                    "skill_level2": "ST",
                }
            )
        iaa[image_id] = float(np.mean(dices))
        image_rows.append({"img_id": f"{image_id}.JPG", "dice_score_mean": iaa[image_id]})
    # An image outside the multi-annotator subset, as in the real metadata table.
    meta.append({"isic_id": "ISIC_0009999", "benign_malignant": "benign", "diagnosis_1": "y"})
    folder.mkdir(parents=True, exist_ok=True)
    for key, rows in [
        ("metadata", meta),
        ("masks", masks),
        ("pairs", pairs),
        ("image_metrics", image_rows),
    ]:
        pd.DataFrame(rows).to_csv(folder / IMAPLUSPLUS_TABLES[key], index=False)
    return iaa


@pytest.fixture
def fake_release(tmp_path):
    root = tmp_path / "release"
    iaa = write_fake_release(root)
    return root, iaa


def test_per_image_frame(fake_release):
    root, iaa = fake_release
    images = load_imaplusplus(root)
    # The core columns of every skiaa reader come first, in this order.
    assert images.columns[:6].tolist() == [
        "image_id",
        "image_path",
        "label",
        "diagnosis",
        "split",
        "image_exists",
    ]
    # No image folder given: no path, nothing known to exist; IMA++ has no split.
    assert images["image_path"].isna().all() and not images["image_exists"].any()
    assert images["split"].isna().all()
    assert images.attrs["dataset"] == "IMA++" and images.attrs["root"] == str(root)
    assert images["image_id"].tolist() == sorted(_FAKE)
    np.testing.assert_allclose(images["iaa"], [iaa[i] for i in images["image_id"]])
    assert images["diagnosis"].astype(str).tolist() == [
        "benign",
        "malignant",
        "indeterminate",
        "indeterminate",
    ]
    # indeterminate/benign is flagged, not counted as benign.
    assert images["label"].tolist()[:2] == [0, 1]
    assert images["label"].isna().tolist() == [False, False, True, True]
    assert images["is_indeterminate"].tolist() == [False, False, True, True]
    assert images["benign_malignant"].tolist()[2] == "indeterminate/benign"
    assert images["n_masks"].tolist() == [len(_FAKE[i][1]) for i in sorted(_FAKE)]
    assert images["n_pairs"].tolist() == [1, 3, 1, 1]
    assert images.loc[1, "annotators"] == "A01,A01,A03"
    assert images.loc[1, "n_annotators"] == 2
    assert "diagnosis_1" in images.columns


def test_per_mask_and_pairs_frames(fake_release):
    root, _ = fake_release
    masks = load_imaplusplus(root, table="masks")
    n_annot = sum(len(v[1]) for v in _FAKE.values())
    assert len(masks) == n_annot + 2 * len(_FAKE)
    assert masks["is_consensus"].sum() == 2 * len(_FAKE)
    row = masks[masks["mask_filename"] == "ISIC_0000002_A03_T3_S2_obj2.png"].iloc[0]
    assert (row["annotator"], row["tool"], row["skill"], row["object_id"]) == (
        "A03",
        "T3",
        "S2",
        "obj2",
    )
    pairs = load_imaplusplus(root, table="pairs")
    assert pairs["is_consensus_pair"].sum() == n_annot
    assert pairs["same_annotator"].sum() == 1  # A01 twice on ISIC_0000002
    assert set(pairs["image_id"]) == set(_FAKE)


def test_missing_table_and_column(fake_release):
    root, _ = fake_release
    (root / IMAPLUSPLUS_TABLES["pairs"]).unlink()
    with pytest.raises(FileNotFoundError, match="IAA_metrics"):
        load_imaplusplus(root)
    write_fake_release(root)
    path = root / IMAPLUSPLUS_TABLES["metadata"]
    pd.read_csv(path).drop(columns="benign_malignant").to_csv(path, index=False)
    with pytest.raises(ValueError, match="benign_malignant"):
        load_imaplusplus(root)


def test_name_disagreeing_with_columns(fake_release):
    root, _ = fake_release
    path = root / IMAPLUSPLUS_TABLES["masks"]
    table = pd.read_csv(path)
    table.loc[0, "tool"] = "T2"
    table.to_csv(path, index=False)
    with pytest.raises(ValueError, match="'tool'"):
        load_imaplusplus(root)


def test_image_without_metrics_is_kept(fake_release):
    root, iaa = fake_release
    path = root / IMAPLUSPLUS_TABLES["image_metrics"]
    pd.read_csv(path).iloc[1:].to_csv(path, index=False)
    images = load_imaplusplus(root)
    assert images["image_id"].tolist() == sorted(_FAKE)
    assert np.isnan(images.loc[0, "iaa"]) and images.loc[1, "iaa"] == pytest.approx(
        iaa["ISIC_0000002"]
    )


def test_image_without_metadata(fake_release):
    root, _ = fake_release
    path = root / IMAPLUSPLUS_TABLES["metadata"]
    pd.read_csv(path).iloc[1:].to_csv(path, index=False)
    with pytest.raises(ValueError, match="ISIC_0000001"):
        load_imaplusplus(root)


def test_folders_give_paths_and_missing_files_are_reported(fake_release, tmp_path):
    root, _ = fake_release
    images, masks = tmp_path / "img", tmp_path / "msk" / "nested"
    images.mkdir()
    masks.mkdir(parents=True)
    # The tables say .JPG; the copy uses .jpg (matched case-insensitively).
    for image_id in _FAKE:
        (images / f"{image_id}.jpg").write_bytes(b"x")
    for name in load_imaplusplus(root, table="masks")["mask_filename"]:
        (masks / name).write_bytes(b"x")
    found = load_imaplusplus(root, images=images)
    mask_table = load_imaplusplus(root, table="masks", masks=tmp_path / "msk")
    assert found["image_exists"].all() and mask_table["mask_exists"].all()
    assert found.loc[0, "image_path"].endswith("ISIC_0000001.jpg")

    (images / "ISIC_0000003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="ISIC_0000003.JPG"):
        load_imaplusplus(root, images=images)
    flagged = load_imaplusplus(root, images=images, on_missing="flag")
    assert len(flagged) == len(_FAKE)  # nothing dropped
    assert flagged["image_exists"].tolist() == [True, True, False, True]
    assert pd.isna(flagged.loc[2, "image_path"])
    with pytest.raises(FileNotFoundError, match="folder"):
        load_imaplusplus(root, table="masks", masks=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="on_missing"):
        load_imaplusplus(root, on_missing="drop")
    with pytest.raises(ValueError, match="table must be one of"):
        load_imaplusplus(root, table="image")


def test_two_files_for_one_image_are_an_error_naming_both(fake_release, tmp_path):
    root, _ = fake_release
    images = tmp_path / "img"
    (images / "sub").mkdir(parents=True)
    for image_id in _FAKE:
        (images / f"{image_id}.jpg").write_bytes(b"x")
    # A .png converted from one image, kept beside (here: below) its JPEG.
    (images / "sub" / "ISIC_0000003.png").write_bytes(b"y")
    with pytest.raises(ValueError) as exc:
        load_imaplusplus(root, images=images)
    assert str(exc.value) == (
        f"1 image(s) of the IMA++ tables have more than one file under {images}: "
        f"{images / 'ISIC_0000003.jpg'} and {images / 'sub' / 'ISIC_0000003.png'}; "
        "keep one file per image"
    )
    (images / "ISIC_0000003.jpg").unlink()
    found = load_imaplusplus(root, images=images)
    assert found.loc[2, "image_path"] == str(images / "sub" / "ISIC_0000003.png")


def test_real_tables(imaplusplus_dir, tmp_path):
    images = load_imaplusplus(imaplusplus_dir)
    # Paper, section 1: 2,394 images, 1,880 benign, 505 malignant, 9 indeterminate;
    # 5,111 annotator masks; 2,130/209/51/4 images with 2/3/4/5 masks.
    assert len(images) == 2394
    assert images["diagnosis"].value_counts().to_dict() == {
        "benign": 1880,
        "malignant": 505,
        "indeterminate": 9,
    }
    assert (~load_imaplusplus(imaplusplus_dir, table="masks")["is_consensus"]).sum() == 5111
    assert images["n_masks"].value_counts().to_dict() == {2: 2130, 3: 209, 4: 51, 5: 4}
    # Every image's IAA is the mean of its non-consensus pairs (README of the tables).
    pairs = load_imaplusplus(imaplusplus_dir, table="pairs")
    pairs = pairs[~pairs["is_consensus_pair"]]
    recomputed = pairs.groupby("image_id")["dice_score"].mean()
    np.testing.assert_allclose(images.set_index("image_id")["iaa"], recomputed[images["image_id"]])
    assert (images["n_pairs"] == images["n_masks"] * (images["n_masks"] - 1) // 2).all()
    by = images.groupby("diagnosis", observed=True)["iaa"].mean()
    assert round(by["benign"], 3) == 0.802 and round(by["malignant"], 3) == 0.756
    # Only the tables are needed: a copy without images reads the same.
    copy = tmp_path / "tables"
    shutil.copytree(imaplusplus_dir, copy)
    assert len(load_imaplusplus(copy)) == 2394
