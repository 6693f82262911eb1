"""Fault injection, masks: bad mask files and arrays are refused naming the item.

Covers the alpha channel (issue 8, item 10: a partly transparent RGBA mask was
accepted although alpha must be opaque), ragged nested lists (item 9: numpy's
"inhomogeneous shape"), and a bad mask inside a folder given to ``skiaa
agreement``, which must leave earlier outputs unchanged.
"""

import numpy as np
import pytest
from PIL import Image

from _helpers import write_mask_folder
from skiaa import AgreementTransformer
from skiaa._masks import as_binary_mask, check_mask_stack, read_mask
from skiaa.agreement import pairwise_agreement
from skiaa.cli import main

SQUARE = np.zeros((6, 6), np.uint8)
SQUARE[1:4, 2:5] = 255


def _rgba(alpha):
    rgba = np.repeat(SQUARE[..., None], 4, axis=2)
    rgba[..., 3] = alpha
    return rgba


def _save(path, arr, mode=None):
    Image.fromarray(arr, mode=mode).save(path)
    return path


@pytest.mark.parametrize(
    ("alpha", "shown"),
    [
        (128, "{128}"),  # uniformly half transparent: accepted before the fix
        (np.where(SQUARE > 0, 255, 0).astype(np.uint8), "{0, 255}"),  # mask in the alpha
        (np.r_[np.full(30, 255), np.full(6, 200)].reshape(6, 6).astype(np.uint8), "{200, 255}"),
        (0, "{0}"),
    ],
    ids=["uniform-128", "mask-in-alpha", "partial-200", "transparent"],
)
def test_rgba_mask_must_be_opaque(tmp_path, alpha, shown):
    path = _save(tmp_path / "rgba.png", _rgba(alpha))
    with pytest.raises(ValueError) as exc:
        read_mask(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: mask with an alpha channel that is not fully opaque")
    assert f"(alpha values {shown}, expected 255 everywhere)" in message


def test_opaque_rgba_and_grey_alpha_masks_are_read(tmp_path):
    expected = SQUARE > 0
    np.testing.assert_array_equal(read_mask(_save(tmp_path / "a.png", _rgba(255))), expected)
    la = np.stack([SQUARE, np.full_like(SQUARE, 255)], axis=-1)
    np.testing.assert_array_equal(read_mask(_save(tmp_path / "la.png", la, "LA")), expected)
    la[0, 0, 1] = 254
    with pytest.raises(ValueError, match=r"la\.png: mask with an alpha channel .*\{254, 255\}"):
        read_mask(_save(tmp_path / "la.png", la, "LA"))


RAGGED = [[0, 1, 1], [1, 0]]  # rows of unequal length
GOOD = [[0, 1, 1], [1, 0, 0]]


def test_ragged_nested_list_names_image_and_mask():
    with pytest.raises(ValueError) as exc:
        check_mask_stack([GOOD, RAGGED], image_index=3)
    message = str(exc.value)
    assert message.startswith("image 3: mask 1: a mask must be a rectangular array")
    assert "nested sequences of unequal lengths" in message
    with pytest.raises(ValueError, match=r"^mask 0: a mask must be a rectangular array"):
        as_binary_mask(RAGGED, what="mask 0")


def test_ragged_input_to_transformer_and_pairwise():
    with pytest.raises(ValueError, match=r"^image 1: mask 0: a mask must be a rectangular array"):
        AgreementTransformer(metrics=["dice"]).fit_transform([[GOOD, GOOD], [RAGGED, GOOD]])
    with pytest.raises(ValueError, match=r"mask 1: a mask must be a rectangular array"):
        pairwise_agreement([GOOD, RAGGED])


def test_transparent_mask_in_folder_fails_agreement_and_keeps_outputs(tmp_path, capsys):
    folder = tmp_path / "masks"
    paths = write_mask_folder(folder, n_images=3)
    out = tmp_path / "out"
    assert main(["agreement", str(folder), "--out", str(out), "-q"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    good = paths[4].read_bytes()
    grey = np.asarray(Image.open(paths[4]))
    _save(paths[4], np.dstack([grey, grey, grey, np.full_like(grey, 128)]))
    capsys.readouterr()
    assert main(["agreement", str(folder), "--out", str(out), "-q", "--force"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert paths[4].name in err and "alpha channel that is not fully opaque" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    paths[4].write_bytes(good)
    assert main(["agreement", str(folder), "--out", str(out), "-q", "--force"]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
