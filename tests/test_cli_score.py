"""Tests of ``skiaa score`` (and the library's score_mask_folder) through ``skiaa.cli.main``."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skiaa.agreement import score_segmentation
from skiaa.cli import main
from skiaa.datasets import make_lesions, score_mask_folder


def _save(path, mask):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


@pytest.fixture(scope="module")
def lesions():
    return make_lesions(4, image_size=40, n_masks=(3, 4), random_state=2)


@pytest.fixture
def folders(tmp_path, lesions):
    """IMA++-named annotator masks (with consensus masks) and one prediction per image."""
    masks, preds = tmp_path / "masks", tmp_path / "pred"
    for i, (stack, ann) in enumerate(zip(lesions.masks, lesions.annotators)):
        image_id = f"ISIC_{i:07d}"
        for j, mask in enumerate(stack):
            _save(masks / f"{image_id}_{ann[j]}_T1_S1_{j:024x}.png", mask)
        _save(masks / f"{image_id}_ST_ST_ST_ST.png", stack[0])
        _save(preds / f"{image_id}_segmentation.png", lesions.true_masks[i])
    return preds, masks


def _expected(lesions, i, metrics):
    ann = list(lesions.annotators[i])
    return score_segmentation(
        lesions.true_masks[i], lesions.masks[i], metrics, annotators=ann, image_id=f"ISIC_{i:07d}"
    )


def test_score_writes_tables_and_figure(folders, lesions, tmp_path, capsys):
    preds, masks = folders
    out = tmp_path / "out"
    assert main(["score", str(preds), str(masks), "--out", str(out), "-q"]) == 0
    images = pd.read_csv(out / "score_per_image.csv")
    annotators = pd.read_csv(out / "score_per_annotator.csv")
    summary = pd.read_csv(out / "score_summary.csv", index_col="metric")
    metrics = ["dice", "jaccard", "threshold_jaccard", "hd95"]
    assert images["metric"].unique().tolist() == metrics
    assert images["image_id"].nunique() == 4
    assert (images["prediction"] == images["image_id"] + "_segmentation.png").all()
    for i in range(4):
        expected = _expected(lesions, i, metrics)
        got = images[images["image_id"] == f"ISIC_{i:07d}"].reset_index(drop=True)
        cols = ["model_mean", "model_consensus", "human_mean", "human_min", "percentile"]
        np.testing.assert_allclose(
            got[cols].to_numpy(float), expected.summary[cols].to_numpy(float)
        )
        rows = annotators[annotators["image_id"] == f"ISIC_{i:07d}"]
        # Files are read in name order; the ST consensus mask is left out.
        assert sorted(rows["annotator"]) == sorted(lesions.annotators[i])
    dice_rows = images[images["metric"] == "dice"]
    assert summary.loc["dice", "model_mean"] == pytest.approx(dice_rows["model_mean"].mean())
    png = (out / "score_figure.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_score_prints_the_summary(folders, tmp_path, capsys):
    preds, masks = folders
    out = tmp_path / "out"
    args = ["score", str(preds), str(masks), "--out", str(out), "--metrics", "dice_score", "hd95"]
    assert main([*args, "--figure-metric", "hd95"]) == 0
    text = capsys.readouterr().out
    assert "Scored 4 images" in text and "score_figure.png (hd95)" in text
    summary = pd.read_csv(out / "score_summary.csv")
    assert summary["metric"].tolist() == ["dice", "hd95"]  # release names read, skiaa's written
    with pytest.raises(SystemExit) as stop:
        main([*args, "--figure-metric", "assd", "--force"])
    assert stop.value.code == 2
    assert "--figure-metric assd is not among --metrics" in capsys.readouterr().err


def test_existing_outputs_are_kept_without_force(folders, tmp_path, capsys):
    preds, masks = folders
    out = tmp_path / "out"
    out.mkdir()
    (out / "score_summary.csv").write_text("keep me")
    assert main(["score", str(preds), str(masks), "--out", str(out), "-q"]) == 1
    assert "already exist" in capsys.readouterr().err
    assert (out / "score_summary.csv").read_text() == "keep me"
    assert not (out / "score_per_image.csv").exists()
    assert main(["score", str(preds), str(masks), "--out", str(out), "-q", "--force"]) == 0
    assert (out / "score_summary.csv").read_text() != "keep me"


def test_out_and_metrics_are_checked_before_reading(tmp_path, capsys):
    # Neither folder exists: the bad option must be reported, not the folders.
    (tmp_path / "file").write_text("x")
    code = main(["score", "nope", "nope", "--out", str(tmp_path / "file")])
    assert code == 1 and "not a folder" in capsys.readouterr().err
    code = main(["score", "nope", "nope", "--out", str(tmp_path / "o"), "--metrics", "dise"])
    assert code == 1 and "unknown metric 'dise'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_missing_predictions_fail_or_are_skipped_and_listed(folders, tmp_path, capsys):
    preds, masks = folders
    (preds / "ISIC_0000002_segmentation.png").unlink()
    out = tmp_path / "out"
    assert main(["score", str(preds), str(masks), "--out", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "1 of 4 images have no prediction" in err and "ISIC_0000002" in err
    assert not out.exists()
    assert main(["score", str(preds), str(masks), "--out", str(out), "-q", "--skip-missing"]) == 0
    assert "warning: 1 images have no prediction" in capsys.readouterr().err
    assert pd.read_csv(out / "score_per_image.csv")["image_id"].nunique() == 3


def test_score_mask_folder_reports_unmatched_and_ambiguous(folders):
    preds, masks = folders
    _save(preds / "something_else.png", np.zeros((40, 40), bool))
    with pytest.warns(UserWarning, match="1 prediction files match no image"):
        result = score_mask_folder(preds, masks, ["dice"])
    assert result.unmatched == ["something_else.png"] and result.missing == []
    _save(preds / "ISIC_0000001.png", np.zeros((40, 40), bool))
    with pytest.raises(ValueError, match="image ISIC_0000001 has several predictions"):
        score_mask_folder(preds, masks, ["dice"])


def test_parallel_scoring_gives_the_serial_numbers(folders):
    preds, masks = folders
    serial = score_mask_folder(preds, masks, ["dice", "hd95"], n_jobs=1)
    threaded = score_mask_folder(preds, masks, ["dice", "hd95"], n_jobs=2)
    pd.testing.assert_frame_equal(serial.images, threaded.images)
    pd.testing.assert_frame_equal(serial.summary, threaded.summary)
