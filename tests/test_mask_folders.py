"""Tests of ``find_mask_sets`` and ``mask_folder_agreement`` on folders the tests write."""

import itertools

import numpy as np
import pytest
from PIL import Image

from skiaa.agreement import EmptyMaskWarning, hd95
from skiaa.datasets import find_mask_sets, mask_folder_agreement


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


# --------------------------------------------------------------------------- #
# mask_folder_agreement
# --------------------------------------------------------------------------- #
def _brute_dice(a, b):
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def _save(path, mask):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def _square(top, left, size, shape=(12, 12)):
    mask = np.zeros(shape, bool)
    mask[top : top + size, left : left + size] = True
    return mask


@pytest.fixture
def lesion_dir(tmp_path):
    """Two images with 3 and 2 annotator masks, consensus masks, a single-mask image."""
    truth = {
        "ISIC_0000001_A01_T1_S1_a.png": _square(2, 2, 6),
        "ISIC_0000001_A02_T3_S2_b.png": _square(3, 2, 6),
        "ISIC_0000001_A01_T2_S1_c.png": _square(2, 3, 5),
        "ISIC_0000002_A04_T1_S3_d.png": _square(1, 1, 8),
        "ISIC_0000002_A05_T2_S1_e.png": _square(4, 4, 7),
    }
    for name, mask in truth.items():
        _save(tmp_path / name, mask)
    _save(tmp_path / "ISIC_0000001_ST_ST_ST_ST.png", _square(2, 2, 6))
    _save(tmp_path / "ISIC_0000003_A06_T1_S1_f.png", _square(2, 2, 6))
    return tmp_path, truth


def test_mask_folder_agreement_tables(lesion_dir):
    folder, truth = lesion_dir
    with pytest.warns(UserWarning, match=r"1 image\(s\) have fewer than 2.*ISIC_0000003"):
        result = mask_folder_agreement(folder)
    assert result.layout == "flat"
    assert result.skipped["reason"].tolist() == ["consensus mask"]
    assert len(result.masks) == 6
    pairs = result.pairs
    assert list(pairs.columns[:5]) == ["img_id", "mask1", "mask2", "annotator1", "annotator2"]
    assert list(pairs.columns[-4:]) == ["tool1", "skill_level1", "tool2", "skill_level2"]
    assert [c for c in pairs.columns if c.endswith("_score")][:2] == [
        "dice_score",
        "jaccard_score",
    ]
    # Every unordered pair of each image's masks, once, with its own values.
    expected = set()
    for image in ("ISIC_0000001", "ISIC_0000002"):
        names = [n for n in truth if n.startswith(image)]
        expected |= {frozenset(p) for p in itertools.combinations(names, 2)}
    assert {frozenset(p) for p in zip(pairs.mask1, pairs.mask2)} == expected
    assert len(pairs) == len(expected) == 4
    for row in pairs.itertuples():
        m1, m2 = truth[row.mask1], truth[row.mask2]
        _, _, a1, t1, s1, _ = row.mask1.split("_")
        _, _, a2, t2, s2, _ = row.mask2.split("_")
        assert row.img_id == row.mask1[:12]
        assert (row.annotator1, row.tool1, row.skill_level1) == (a1, t1, s1)
        assert (row.annotator2, row.tool2, row.skill_level2) == (a2, t2, s2)
        assert row.dice_score == pytest.approx(_brute_dice(m1, m2))
        assert row.hd95_score == pytest.approx(hd95(m1, m2))
    # Image level: every image, the mean and sample std over its pairs.
    images = result.images.set_index("img_id")
    assert result.images.columns[0] == "img_id"
    assert images.index.tolist() == ["ISIC_0000001", "ISIC_0000002", "ISIC_0000003"]
    for img_id, group in pairs.groupby("img_id"):
        assert images.loc[img_id, "dice_score_mean"] == pytest.approx(group.dice_score.mean())
        assert images.loc[img_id, "n_pairs"] == len(group)
    assert images.loc["ISIC_0000001", "dice_score_std"] == pytest.approx(
        pairs[pairs.img_id == "ISIC_0000001"].dice_score.std(ddof=1)
    )
    assert np.isnan(images.loc["ISIC_0000003", "dice_score_mean"])
    assert images.loc["ISIC_0000003", "n_pairs"] == 0


def test_mask_folder_agreement_metrics_and_consensus(lesion_dir):
    folder, _ = lesion_dir
    with pytest.warns(UserWarning, match="fewer than 2"):
        result = mask_folder_agreement(folder, ["jaccard", "hd95_score"], include_consensus=True)
    # Dice is added, first: the IAA is mean Dice.
    assert [c for c in result.pairs.columns if c.endswith("_score")] == [
        "dice_score",
        "jaccard_score",
        "hd95_score",
    ]
    pairs = result.pairs
    consensus = pairs.annotator1.eq("ST") | pairs.annotator2.eq("ST")
    assert consensus.sum() == 3  # ST with each of image 1's three masks
    # The image-level statistics leave the consensus pairs out.
    plain = pairs[~consensus].groupby("img_id").dice_score.mean()
    got = result.images.set_index("img_id").dice_score_mean.dropna()
    assert got.to_dict() == pytest.approx(plain.to_dict())


def test_mask_folder_agreement_checks_metrics_first(tmp_path):
    # The metric name is checked before the (missing) folder is looked at.
    with pytest.raises(ValueError, match="Did you mean 'dice'"):
        mask_folder_agreement(tmp_path / "missing", ["dise"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mask_folder_agreement(tmp_path / "missing")


def test_mask_folder_agreement_empty_mask_and_no_pairs(tmp_path):
    _save(tmp_path / "pairs" / "ISIC_0000001_A01_T1_S1_a.png", _square(2, 2, 4))
    _save(tmp_path / "pairs" / "ISIC_0000001_A02_T1_S1_b.png", np.zeros((12, 12), bool))
    with pytest.warns(EmptyMaskWarning, match="1 pair") as record:
        result = mask_folder_agreement(tmp_path / "pairs")
    assert len(record) == 1  # one summary, not one warning per pair
    row = result.pairs.iloc[0]
    assert row.dice_score == 0.0 and np.isnan(row.hd95_score)
    assert np.isnan(result.images.loc[0, "hd95_score_mean"])
    _write(tmp_path / "single" / "ISIC_0000001_A01_T1_S1_a.png", 255)
    with (
        pytest.warns(UserWarning, match="fewer than 2"),
        pytest.raises(ValueError, match="no image has two or more masks"),
    ):
        mask_folder_agreement(tmp_path / "single")


def test_mask_folder_agreement_passes_on_find_warnings(lesion_dir, capsys):
    folder, _ = lesion_dir
    (folder / "notes.txt").write_text("not a mask")
    with pytest.warns(UserWarning) as record:
        result = mask_folder_agreement(folder, "dice", verbose=1)
    messages = [str(w.message) for w in record]
    assert any("notes.txt" in m for m in messages)
    # Reported from the caller's line, not from inside skiaa.
    assert all(w.filename == __file__ for w in record)
    assert "not a mask file" in set(result.skipped["reason"])
    assert "Found 6 masks of 3 images" in capsys.readouterr().err


def test_lesions_agreement_tables_of_generated_masks():
    from skiaa.agreement import dice
    from skiaa.datasets import lesions_agreement, make_lesions

    data = make_lesions(4, image_size=24, n_masks=(2, 3), random_state=1)
    result = lesions_agreement(data, ["hd95"])
    pairs, images = result.pairs, result.images
    # Dice is always there (it defines the IAA), in front of what was asked.
    assert [c for c in pairs.columns if c.endswith("_score")] == ["dice_score", "hd95_score"]
    assert images["img_id"].tolist() == data.image_ids.tolist()
    for k, image_id in enumerate(data.image_ids):
        own = pairs[pairs["img_id"] == image_id]
        stack = data.masks[k]
        expected = [
            dice(stack[i], stack[j]) for i, j in itertools.combinations(range(len(stack)), 2)
        ]
        np.testing.assert_allclose(own["dice_score"], expected)
        assert own["annotator1"].tolist()[0] == data.annotators[k][0]
        assert own["tool1"].tolist()[0] == data.tools[k][0]
        row = images.set_index("img_id").loc[image_id]
        assert row["n_pairs"] == len(expected)
        assert row["dice_score_mean"] == pytest.approx(np.mean(expected))
