"""Tests of ``skiaa.datasets.find_mask_sets`` on folders the tests write."""

import numpy as np
import pytest
from PIL import Image

from skiaa.datasets import find_mask_sets


def _write(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4), value, np.uint8)).save(path)


FLAT = [
    "ISIC_0000002_A03_T1_S1_c.png",
    "ISIC_0000001_A02_T3_S2_b.png",
    "ISIC_0000001_A01_T1_S1_a.png",
    "ISIC_0000002_A03_T1_S1_d.png",  # two masks by one annotator
    "ISIC_0000001_ST_ST_ST_ST.png",
    "ISIC_0000001_MV_MV_MV_MV.png",
    "ISIC_0000003_A05_T2_S2_e.png",  # an image with a single mask
]


@pytest.fixture
def flat_dir(tmp_path):
    for name in FLAT:
        _write(tmp_path / name)
    return tmp_path


def test_flat_layout(flat_dir):
    found = find_mask_sets(flat_dir)
    assert found.layout == "flat"
    masks = found.masks
    assert list(masks.columns) == [
        "image_id",
        "path",
        "mask",
        "annotator",
        "tool",
        "skill",
        "object_id",
    ]
    assert masks["mask"].tolist() == [
        "ISIC_0000001_A01_T1_S1_a.png",
        "ISIC_0000001_A02_T3_S2_b.png",
        "ISIC_0000002_A03_T1_S1_c.png",
        "ISIC_0000002_A03_T1_S1_d.png",
        "ISIC_0000003_A05_T2_S2_e.png",
    ]
    assert masks.groupby("image_id").size().to_dict() == {
        "ISIC_0000001": 2,
        "ISIC_0000002": 2,
        "ISIC_0000003": 1,
    }
    row = masks.iloc[1]
    assert (row.annotator, row.tool, row.skill, row.object_id) == ("A02", "T3", "S2", "b")
    assert all((flat_dir / m).samefile(p) for m, p in zip(masks["mask"], masks["path"]))
    # Consensus masks are skipped, and said to be.
    assert sorted(found.skipped["path"].map(lambda p: p.rsplit("/", 1)[-1])) == [
        "ISIC_0000001_MV_MV_MV_MV.png",
        "ISIC_0000001_ST_ST_ST_ST.png",
    ]
    assert set(found.skipped["reason"]) == {"consensus mask"}


def test_flat_layout_include_consensus(flat_dir):
    found = find_mask_sets(flat_dir, include_consensus=True)
    assert len(found.masks) == len(FLAT)
    assert found.skipped.empty


def test_non_mask_files_are_skipped_with_a_warning(flat_dir):
    (flat_dir / "notes.txt").write_text("hello")
    (flat_dir / "ISIC_0000001.jpg").write_bytes(b"")
    (flat_dir / ".DS_Store").write_bytes(b"")  # hidden: ignored
    with pytest.warns(UserWarning, match=r"skipped 2 file\(s\).*ISIC_0000001.jpg.*notes.txt"):
        found = find_mask_sets(flat_dir)
    assert len(found.masks) == 5
    assert (found.skipped["reason"] == "not a mask file").sum() == 2


def test_badly_named_png_is_an_error(flat_dir):
    _write(flat_dir / "lesion_mask.png")
    with pytest.raises(ValueError, match="lesion_mask.png"):
        find_mask_sets(flat_dir)


def test_extensions_are_case_insensitive(tmp_path):
    _write(tmp_path / "ISIC_0000001_A01_T1_S1_a.PNG")
    _write(tmp_path / "ISIC_0000001_A02_T1_S1_b.png")
    assert len(find_mask_sets(tmp_path).masks) == 2


def test_folder_layout(tmp_path):
    _write(tmp_path / "lesion_b" / "rater1.png")
    _write(tmp_path / "lesion_b" / "rater2.png")
    _write(tmp_path / "lesion_a" / "ISIC_0000009_A04_T3_S1_x.png")
    _write(tmp_path / "lesion_a" / "ISIC_0000009_A06_T1_S1_y.png")
    _write(tmp_path / "lesion_a" / "ISIC_0000009_ST_ST_ST_ST.png")
    found = find_mask_sets(tmp_path)
    assert found.layout == "folders"
    masks = found.masks
    assert masks["image_id"].tolist() == ["lesion_a", "lesion_a", "lesion_b", "lesion_b"]
    assert masks["annotator"].tolist() == ["A04", "A06", "rater1", "rater2"]
    assert masks["tool"].tolist()[:2] == ["T3", "T1"]
    assert masks["tool"].isna().tolist() == [False, False, True, True]
    assert found.skipped["reason"].tolist() == ["consensus mask"]


def test_folder_without_masks_warns(tmp_path):
    _write(tmp_path / "a" / "m1.png")
    _write(tmp_path / "a" / "m2.png")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "m1.jpg").write_bytes(b"")
    with pytest.warns(UserWarning) as record:
        found = find_mask_sets(tmp_path)
    messages = " ".join(str(w.message) for w in record)
    assert "m1.jpg" in messages and "hold no mask" in messages and "b" in messages
    assert set(found.skipped["reason"]) == {"not a mask file", "no mask in folder"}
    assert found.masks["image_id"].unique().tolist() == ["a"]


def test_mixed_layout_is_an_error(tmp_path):
    _write(tmp_path / "ISIC_0000001_A01_T1_S1_a.png")
    _write(tmp_path / "img" / "m.png")
    with pytest.raises(ValueError, match="mixes mask files"):
        find_mask_sets(tmp_path)


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no mask files found"):
        find_mask_sets(tmp_path)


def test_only_consensus_masks(tmp_path):
    _write(tmp_path / "ISIC_0000001_ST_ST_ST_ST.png")
    with pytest.raises(ValueError, match=r"no mask files found.*1 file\(s\) skipped"):
        find_mask_sets(tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_mask_sets(tmp_path / "nope")
    _write(tmp_path / "f.png")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        find_mask_sets(tmp_path / "f.png")
