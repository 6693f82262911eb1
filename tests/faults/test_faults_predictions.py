"""Bad prediction files for ``skiaa score`` / score_mask_folder: each named, nothing written."""

import numpy as np
import pytest
from PIL import Image

from skiaa.cli import main
from skiaa.datasets import score_mask_folder


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def folders(tmp_path):
    masks, preds = tmp_path / "masks", tmp_path / "pred"
    for i in range(2):
        for j in range(3):
            mask = np.zeros((12, 12), np.uint8)
            mask[2 : 8 + j, 2:8] = 255
            _save(masks / f"ISIC_{i:07d}_A0{j}_T1_S1_{j}.png", mask)
        pred = np.zeros((12, 12), np.uint8)
        pred[2:9, 2:8] = 255
        _save(preds / f"ISIC_{i:07d}.png", pred)
    return preds, masks


def _run(preds, masks, out):
    return main(["score", str(preds), str(masks), "--out", str(out), "-q"])


def test_a_probability_map_is_refused_naming_the_file(folders, tmp_path, capsys):
    preds, masks = folders
    _save(preds / "ISIC_0000001.png", np.linspace(0, 255, 144).reshape(12, 12).astype(np.uint8))
    assert _run(preds, masks, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "ISIC_0000001.png" in err and "{0, 1} or {0, 255}" in err
    assert not (tmp_path / "out").exists()


def test_a_prediction_of_another_size_is_refused_naming_the_image(folders, tmp_path, capsys):
    preds, masks = folders
    _save(preds / "ISIC_0000000.png", np.zeros((10, 12), np.uint8))
    assert _run(preds, masks, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "image ISIC_0000000" in err and "same shape" in err


def test_an_unreadable_prediction_is_refused_naming_the_file(folders, tmp_path, capsys):
    preds, masks = folders
    (preds / "ISIC_0000001.png").write_bytes(b"not a png")
    assert _run(preds, masks, tmp_path / "out") == 1
    assert "ISIC_0000001.png" in capsys.readouterr().err


def test_no_prediction_matching_any_image(folders, tmp_path):
    preds, masks = folders
    for p in preds.iterdir():
        p.rename(p.with_name("pred_" + p.name))
    with pytest.raises(ValueError, match="no prediction in .* matches an image"):
        score_mask_folder(preds, masks)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        score_mask_folder(tmp_path / "absent", masks)


def test_an_image_with_one_annotator_is_refused_naming_it(folders, tmp_path):
    preds, masks = folders
    for p in masks.glob("ISIC_0000001_A0[12]*"):
        p.unlink()
    with pytest.raises(ValueError, match="image ISIC_0000001: .*at least 2 annotator masks"):
        score_mask_folder(preds, masks)


def test_an_empty_prediction_gives_nan_and_one_warning(folders, tmp_path):
    preds, masks = folders
    _save(preds / "ISIC_0000001.png", np.zeros((12, 12), np.uint8))
    with pytest.warns(UserWarning, match="1 images have undefined boundary distances"):
        result = score_mask_folder(preds, masks, ["dice", "hd95"])
    assert result.summary.loc["hd95", "n_undefined"] == 1
    assert np.isnan(result.summary.loc["hd95", "model_mean"])
    assert result.summary.loc["dice", "n_undefined"] == 0


def test_a_rerun_after_a_fault_gives_the_uninterrupted_numbers(folders, tmp_path):
    preds, masks = folders
    good = (preds / "ISIC_0000001.png").read_bytes()
    out = tmp_path / "out"
    assert _run(preds, masks, out) == 0
    before = (out / "score_per_image.csv").read_text()
    (preds / "ISIC_0000001.png").write_bytes(b"broken")
    assert main(["score", str(preds), str(masks), "--out", str(out), "-q", "--force"]) == 1
    assert (out / "score_per_image.csv").read_text() == before  # nothing overwritten
    (preds / "ISIC_0000001.png").write_bytes(good)
    assert main(["score", str(preds), str(masks), "--out", str(out), "-q", "--force"]) == 0
    assert (out / "score_per_image.csv").read_text() == before


def test_an_empty_prediction_with_empty_worst_counts_as_the_diagonal(folders, tmp_path):
    preds, masks = folders
    _save(preds / "ISIC_0000001.png", np.zeros((12, 12), np.uint8))
    result = score_mask_folder(preds, masks, ["hd95_normalized"], empty="worst")
    row = result.images.set_index("image_id").loc["ISIC_0000001"]
    assert row["model_mean"] == 1.0 and row["percentile"] == 0.0
    assert result.summary.loc["hd95_normalized", "n_undefined"] == 0
    code = main(
        ["score", str(preds), str(masks), "--out", str(tmp_path / "o"), "-q"]
        + ["--metrics", "hd95_normalized", "--empty", "worst"]
    )
    assert code == 0
