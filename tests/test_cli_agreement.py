"""Tests of ``skiaa agreement`` (demo and mask-folder modes) through ``skiaa.cli.main``."""

import itertools

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skiaa.agreement import dice, hd95
from skiaa.cli import main
from skiaa.datasets import make_lesions


def _save(path, mask):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def _brute_dice(a, b):
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def lesions():
    return make_lesions(5, image_size=40, n_masks=(2, 4), random_state=4)


@pytest.fixture
def ima_dir(tmp_path, lesions):
    """A flat IMA++-layout folder: annotator masks, consensus masks, a single-mask image."""
    folder = tmp_path / "masks"
    truth = {}
    for i, (stack, ann, tools, skills) in enumerate(
        zip(lesions.masks, lesions.annotators, lesions.tools, lesions.skills)
    ):
        image_id = f"ISIC_{i + 100:07d}"
        for j, mask in enumerate(stack):
            name = f"{image_id}_{ann[j]}_{tools[j]}_{skills[j]}_{j:024x}.png"
            _save(folder / name, mask)
            truth[name] = (mask, ann[j], tools[j], skills[j])
        _save(folder / f"{image_id}_ST_ST_ST_ST.png", stack[0])
        _save(folder / f"{image_id}_MV_MV_MV_MV.png", stack[-1])
    _save(folder / f"ISIC_0000999_A02_T1_S1_{0:024x}.png", lesions.masks[0][0])
    return folder, truth


def _read(out):
    return pd.read_csv(out / "pairwise_metrics.csv"), pd.read_csv(out / "image_level_metrics.csv")


def test_folder_writes_release_layout(ima_dir, tmp_path, capsys):
    folder, truth = ima_dir
    out = tmp_path / "out"
    assert main(["agreement", str(folder), "--out", str(out)]) == 0
    pairs, images = _read(out)
    assert list(pairs.columns) == [
        "img_id",
        "mask1",
        "mask2",
        "annotator1",
        "annotator2",
        "dice_score",
        "jaccard_score",
        "hd_score",
        "hd95_score",
        "assd_score",
        "hd_score_normalized",
        "hd95_score_normalized",
        "assd_score_normalized",
        "tool1",
        "skill_level1",
        "tool2",
        "skill_level2",
    ]
    # Every unordered pair of each image's annotator masks, and nothing else.
    expected_pairs = set()
    by_image = {}
    for name in truth:
        by_image.setdefault(name[:12], []).append(name)
    for names in by_image.values():
        expected_pairs |= {frozenset(p) for p in itertools.combinations(names, 2)}
    assert {frozenset(p) for p in zip(pairs.mask1, pairs.mask2)} == expected_pairs
    assert len(pairs) == len(expected_pairs)
    for row in pairs.itertuples():
        m1, a1, t1, s1 = truth[row.mask1]
        m2, a2, t2, s2 = truth[row.mask2]
        assert row.img_id == row.mask1[:12]
        assert (row.annotator1, row.tool1, row.skill_level1) == (a1, t1, s1)
        assert (row.annotator2, row.tool2, row.skill_level2) == (a2, t2, s2)
        assert row.dice_score == pytest.approx(_brute_dice(m1, m2), abs=1e-12)
        assert row.hd95_score == pytest.approx(hd95(m1, m2), abs=1e-9)
        diag = np.hypot(*m1.shape)
        assert row.hd95_score_normalized == pytest.approx(row.hd95_score / diag, abs=1e-9)

    # Image level: mean and std over the image's pairs, every image listed.
    assert images.columns[0] == "img_id"
    assert {"dice_score_mean", "dice_score_std", "hd95_score_mean", "n_pairs"} <= set(
        images.columns
    )
    assert sorted(images.img_id) == sorted([*by_image, "ISIC_0000999"])
    for img_id, group in pairs.groupby("img_id"):
        row = images.set_index("img_id").loc[img_id]
        assert row.dice_score_mean == pytest.approx(group.dice_score.mean())
        assert row.n_pairs == len(group)
        if len(group) > 1:
            assert row.dice_score_std == pytest.approx(group.dice_score.std(ddof=1))
    lonely = images.set_index("img_id").loc["ISIC_0000999"]
    assert np.isnan(lonely.dice_score_mean) and lonely.n_pairs == 0

    captured = capsys.readouterr()
    assert "10 consensus masks skipped" in captured.err
    assert "ISIC_0000999" in captured.err  # the single-mask image is reported
    assert "IAA mean" in captured.out and "Wrote" in captured.out


def test_folder_never_overwrites_without_force(ima_dir, tmp_path, capsys):
    folder, _ = ima_dir
    out = tmp_path / "out"
    out.mkdir()
    (out / "image_level_metrics.csv").write_text("precious")
    assert main(["agreement", str(folder), "--out", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "image_level_metrics.csv already exists" in err and "--force" in err
    assert (out / "image_level_metrics.csv").read_text() == "precious"
    assert not (out / "pairwise_metrics.csv").exists()
    assert main(["agreement", str(folder), "--out", str(out), "-q", "--force"]) == 0
    assert (out / "image_level_metrics.csv").read_text() != "precious"


def test_folder_metrics_and_parallel(ima_dir, tmp_path):
    folder, truth = ima_dir
    out1, out2 = tmp_path / "one", tmp_path / "two"
    args = ["agreement", str(folder), "--metrics", "jaccard", "hd95_score", "-q"]
    assert main([*args, "--out", str(out1)]) == 0
    assert main([*args, "--out", str(out2), "--n-jobs", "2"]) == 0
    pairs1, images1 = _read(out1)
    pairs2, images2 = _read(out2)
    pd.testing.assert_frame_equal(pairs1, pairs2)
    pd.testing.assert_frame_equal(images1, images2)
    # Dice is always there: it defines the IAA.
    metric_cols = [c for c in pairs1.columns if c.endswith("_score")]
    assert metric_cols == ["dice_score", "jaccard_score", "hd95_score"]
    row = pairs1.iloc[0]
    assert row.dice_score == pytest.approx(dice(truth[row.mask1][0], truth[row.mask2][0]))


def test_folder_include_consensus(ima_dir, tmp_path):
    folder, _ = ima_dir
    out = tmp_path / "out"
    assert main(["agreement", str(folder), "--out", str(out), "-q", "--include-consensus"]) == 0
    pairs, images = _read(out)
    with_consensus = pairs.annotator1.isin(["ST", "MV"]) | pairs.annotator2.isin(["ST", "MV"])
    assert with_consensus.any()
    # Image-level statistics still ignore the consensus pairs.
    plain = pairs[~with_consensus].groupby("img_id").dice_score.mean()
    got = images.set_index("img_id").dice_score_mean.dropna()
    pd.testing.assert_series_equal(got.sort_index(), plain.sort_index(), check_names=False)


def test_folder_per_image_layout(tmp_path, lesions):
    folder = tmp_path / "by_image"
    for i, stack in enumerate(lesions.masks[:3]):
        for j, mask in enumerate(stack):
            _save(folder / f"lesion{i}" / f"rater{j}.png", mask)
    out = tmp_path / "out"
    assert main(["agreement", str(folder), "--out", str(out), "-q"]) == 0
    pairs, images = _read(out)
    assert sorted(images.img_id) == ["lesion0", "lesion1", "lesion2"]
    first = pairs[(pairs.img_id == "lesion0")].iloc[0]
    assert (first.mask1, first.mask2, first.annotator1) == ("rater0.png", "rater1.png", "rater0")
    expected = _brute_dice(lesions.masks[0][0], lesions.masks[0][1])
    assert first.dice_score == pytest.approx(expected)


def test_folder_errors(tmp_path, capsys):
    assert main(["agreement", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["agreement", str(empty), "--out", str(tmp_path / "o")]) == 1
    assert "no mask files found" in capsys.readouterr().err
    # Only single-mask images: nothing to compare, said clearly.
    single = tmp_path / "single"
    _save(single / "ISIC_0000001_A01_T1_S1_a.png", np.eye(5, dtype=bool))
    assert main(["agreement", str(single), "--out", str(tmp_path / "o")]) == 1
    assert "no image has two or more masks" in capsys.readouterr().err
    # A corrupt mask file is named.
    bad = tmp_path / "bad"
    _save(bad / "ISIC_0000001_A01_T1_S1_a.png", np.eye(5, dtype=bool))
    (bad / "ISIC_0000001_A02_T1_S1_b.png").write_bytes(b"not a png")
    assert main(["agreement", str(bad), "--out", str(tmp_path / "o"), "-q"]) == 1
    assert "ISIC_0000001_A02_T1_S1_b.png" in capsys.readouterr().err
    assert not (tmp_path / "o" / "pairwise_metrics.csv").exists()


def test_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["agreement"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["agreement", str(tmp_path), "--demo", "5"])
    assert exc.value.code == 2
    assert "either MASK_DIR or --demo" in capsys.readouterr().err
    assert main(["agreement", "--demo", "3", "--metrics", "dise"]) == 1
    assert "Did you mean 'dice'" in capsys.readouterr().err
    assert main(["agreement", "--demo", "0"]) == 1


def test_demo_prints_summary(capsys):
    assert main(["agreement", "--demo", "60", "--seed", "3", "--image-size", "48"]) == 0
    out = capsys.readouterr().out
    assert "60 synthetic" in out
    for word in ("benign", "malignant", "all", "IAA mean", "IAA median", "Takeaway"):
        assert word in out
    # The table's numbers are the generator's: recompute the benign mean IAA.
    data = make_lesions(60, image_size=48, random_state=3)
    iaa = np.array(
        [
            np.mean([_brute_dice(m[i], m[j]) for i, j in itertools.combinations(range(len(m)), 2)])
            for m in data.masks
        ]
    )
    benign_line = next(line for line in out.splitlines() if line.startswith("benign"))
    fields = benign_line.split()
    assert int(fields[1]) == int(np.sum(data.diagnosis == "benign"))
    assert float(fields[2]) == pytest.approx(iaa[data.diagnosis == "benign"].mean(), abs=6e-4)


def test_demo_writes_csvs_only_with_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["agreement", "--demo", "4", "--image-size", "32", "-q"]) == 0
    assert list(tmp_path.iterdir()) == []
    out = tmp_path / "demo"
    assert main(["agreement", "--demo", "4", "--image-size", "32", "-q", "--out", str(out)]) == 0
    pairs, images = _read(out)
    assert len(images) == 4 and images.n_pairs.min() >= 1
    assert {"tool1", "skill_level2", "dice_score"} <= set(pairs.columns)
    assert main(["agreement", "--demo", "4", "--image-size", "32", "-q", "--out", str(out)]) == 1


def test_columns_match_the_real_release(ima_dir, tmp_path, imaplusplus_dir):
    folder, _ = ima_dir
    out = tmp_path / "out"
    assert main(["agreement", str(folder), "--out", str(out), "-q"]) == 0
    pairs, images = _read(out)
    release_pairs = pd.read_csv(
        imaplusplus_dir / "IMAplusplus_multiannotator_subset_IAA_metrics.csv", nrows=1
    )
    assert list(pairs.columns) == list(release_pairs.columns)
    release_images = pd.read_csv(
        imaplusplus_dir / "IMAplusplus_multiannotator_subset_image_level_metrics.csv", nrows=1
    )
    # The release's image-level columns appear in the same order; skiaa adds the
    # normalised HD95/ASSD statistics the release left out, and n_pairs.
    ours = list(images.columns)
    positions = [ours.index(c) for c in release_images.columns]
    assert positions == sorted(positions)


def test_folder_of_nifti_volumes_with_header_spacing_and_options(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    rng = np.random.default_rng(3)
    root = tmp_path / "cases"
    zooms = (3.0, 0.5, 0.5)
    stack = np.zeros((3, 6, 12, 12), bool)
    for j in range(3):
        lo = rng.integers(1, 4, size=3)
        stack[j, lo[0] : lo[0] + 3, lo[1] : lo[1] + 6, lo[2] : lo[2] + 6] = True
    empty = np.zeros((6, 12, 12), bool)
    for case, masks in {"c1": stack, "c2": [stack[0], empty]}.items():
        (root / case).mkdir(parents=True)
        for j, m in enumerate(masks):
            img = nibabel.Nifti1Image(m.astype(np.uint8), np.diag([*zooms, 1.0]))
            nibabel.save(img, root / case / f"r{j}.nii.gz")
    out = tmp_path / "out"
    args = ["agreement", str(root), "--out", str(out), "--metrics", "dice", "hd95", "-q"]
    assert main([*args, "--hd-percentile", "max", "--empty", "worst"]) == 0
    pairs, images = _read(out)
    c1 = pairs[pairs["img_id"] == "c1"]
    for row, (i, j) in zip(c1.itertuples(), itertools.combinations(range(3), 2)):
        expected = hd95(stack[i], stack[j], spacing=zooms, hd_percentile="max")
        assert row.hd95_score == pytest.approx(expected, rel=1e-12)
    diagonal = np.sqrt((6 * 3.0) ** 2 + (12 * 0.5) ** 2 * 2)
    assert pairs[pairs["img_id"] == "c2"]["hd95_score"].item() == pytest.approx(diagonal)
    assert images["n_pairs"].tolist() == [3, 1]
    # --spacing overrides the headers.
    assert main([*args, "--force", "--spacing", "1"]) == 0
    pairs, _ = _read(out)
    expected = hd95(stack[0], stack[1])
    assert pairs["hd95_score"].iloc[0] == pytest.approx(expected, rel=1e-12)
