"""Fault injection, masks: bad mask files and arrays are refused naming the item.

Covers palette, 16-bit and NIfTI files (read for what they show, NIfTI masks in
world space), the alpha channel (a partly transparent RGBA mask was
accepted although alpha must be opaque), ragged nested lists (numpy's
"inhomogeneous shape"), and a bad mask inside a folder given to ``skiaa
agreement``, which must leave earlier outputs unchanged.
"""

import numpy as np
import pandas as pd
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


# --------------------------------------------------------------------------- #
# Mask files read for what they show
# --------------------------------------------------------------------------- #
def _palette_mask(path, indices, palette):
    img = Image.fromarray(indices, mode="P")
    img.putpalette(palette + [0] * (768 - len(palette)))
    img.save(path)
    return path


def test_palette_mask_is_read_through_its_palette(tmp_path):
    lesion = SQUARE > 0
    black_white = [0, 0, 0, 255, 255, 255]
    plain = _palette_mask(tmp_path / "plain.png", lesion.astype(np.uint8), black_white)
    # The same picture stored the other way round: index 0 is white, index 1 black.
    inverted = _palette_mask(
        tmp_path / "inverted.png", (~lesion).astype(np.uint8), [255, 255, 255, 0, 0, 0]
    )
    np.testing.assert_array_equal(read_mask(plain), lesion)
    np.testing.assert_array_equal(read_mask(inverted), lesion)
    assert pairwise_agreement([plain, inverted])["dice"].tolist() == [1.0]


def test_palette_mask_in_colour_is_refused(tmp_path):
    red = _palette_mask(tmp_path / "red.png", (SQUARE > 0).astype(np.uint8), [0, 0, 0, 255, 0, 0])
    with pytest.raises(ValueError) as exc:
        read_mask(red)
    assert str(exc.value) == f"{red}: colour mask whose channels differ; expected a grey mask"


def test_sixteen_bit_mask_is_read_by_its_full_scale(tmp_path):
    path = _save(tmp_path / "m16.png", (SQUARE > 0).astype(np.uint16) * 65535)
    np.testing.assert_array_equal(read_mask(path), SQUARE > 0)
    grey = (SQUARE > 0).astype(np.uint16) * 65535
    grey[0, 0] = 300
    with pytest.raises(ValueError) as exc:
        read_mask(_save(tmp_path / "m16.png", grey))
    assert str(exc.value) == (
        f"{path}: mask values must be {{0, 1}} or {{0, 255}}, found {{0, 300, 65535}}"
    )


def test_mask_file_of_unknown_mode_and_over_large_mask_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "int32.tif"
    Image.fromarray((SQUARE > 0).astype(np.int32)).save(path)
    with pytest.raises(ValueError, match=rf"^image 0: {path}: image mode 'I' is not understood"):
        check_mask_stack([path, path], image_index=0)
    large = _save(tmp_path / "large.png", np.zeros((40, 50), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    with pytest.raises(ValueError) as exc:
        read_mask(large)
    assert str(exc.value).startswith(f"{large}: Image size (2000 pixels) exceeds limit")
    assert "PIL.Image.MAX_IMAGE_PIXELS = <pixels>" in str(exc.value)


# --------------------------------------------------------------------------- #
# NIfTI masks compared in world space
# --------------------------------------------------------------------------- #
def _nifti(path, mask, affine):
    nibabel = pytest.importorskip("nibabel")
    nibabel.save(nibabel.Nifti1Image(mask.astype(np.uint8), affine), path)
    return path


def _volumes():
    """Two raters' masks of one lesion on a (6, 7, 8) grid, different in shape and place."""
    a = np.zeros((6, 7, 8), bool)
    a[1:4, 2:6, 1:5] = True
    b = np.zeros_like(a)
    b[2:5, 1:5, 2:7] = True
    return a, b


# Voxel size (0.5, 0.8, 2.0) mm, origin (-10, 4, 30) mm, axes along +x, +y, +z.
AFFINE = np.array(
    [[0.5, 0, 0, -10.0], [0, 0.8, 0, 4.0], [0, 0, 2.0, 30.0], [0, 0, 0, 1]], dtype=float
)
METRICS = ["dice", "hausdorff", "hd95", "assd"]


def _flipped_x(mask, affine):
    """The same mask stored with its first axis reversed, and the affine that says so."""
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1, mask.shape[0] - 1
    return mask[::-1], affine @ flip


def _transposed(mask, affine):
    """The same mask stored with axes (z, x, y), and the affine that says so."""
    swap = np.zeros((4, 4))
    swap[[0, 1, 2], [1, 2, 0]] = 1  # stored voxel (p, q, r) is voxel (q, r, p)
    swap[3, 3] = 1
    return mask.transpose(2, 0, 1), affine @ swap


def test_nifti_mask_stored_flipped_is_compared_in_world_space(tmp_path):
    a, _ = _volumes()
    flipped, affine = _flipped_x(a, AFFINE)
    assert not np.array_equal(flipped, a)  # voxel by voxel they would disagree
    paths = [
        _nifti(tmp_path / "r1.nii.gz", a, AFFINE),
        _nifti(tmp_path / "r2.nii", flipped, affine),
    ]
    row = pairwise_agreement(paths, METRICS).iloc[0]
    assert row["dice"] == 1.0 and row["hausdorff"] == 0.0 and row["assd"] == 0.0


@pytest.mark.parametrize("store", [_flipped_x, _transposed], ids=["flipped", "transposed"])
def test_reoriented_nifti_masks_give_the_arrays_values_with_their_spacing(tmp_path, store):
    a, b = _volumes()
    expected = pairwise_agreement([a, b], METRICS, spacing=(0.5, 0.8, 2.0))
    stored, affine = store(b, AFFINE)
    first = _nifti(tmp_path / "a.nii.gz", a, AFFINE)
    second = _nifti(tmp_path / "b.nii.gz", stored, affine)
    got = pairwise_agreement([first, second], METRICS)
    pd.testing.assert_frame_equal(got, expected)
    # With the reoriented file first, its orientation is the reference and the
    # spacing comes from its own axes: the distances are the same.
    back = pairwise_agreement([second, first], METRICS)
    np.testing.assert_allclose(back[METRICS].to_numpy(), expected[METRICS].to_numpy())


def _refusal(paths):
    with pytest.raises(ValueError) as exc:
        pairwise_agreement(paths, METRICS, image_id="case1")
    return str(exc.value)


def test_nifti_masks_on_different_grids_are_refused_naming_both(tmp_path):
    a, _ = _volumes()
    first = _nifti(tmp_path / "r1.nii.gz", a, AFFINE)
    moved = AFFINE.copy()
    moved[0, 3] += 50.0  # the same voxels, 50 mm to the side
    shifted = _nifti(tmp_path / "r2.nii.gz", a, moved)
    assert _refusal([first, shifted]) == (
        f"image case1: the masks' files do not lie on one voxel grid, so their voxels cannot "
        f"be compared: {first} and {shifted} differ in origin (-10.0, 4.0, 30.0) and "
        "(40.0, 4.0, 30.0) (50 apart); resample one onto the other's grid first"
    )
    finer = AFFINE.copy()
    finer[2, 2] = 1.0
    fine = _nifti(tmp_path / "fine.nii.gz", a, finer)
    assert (
        f"{first} and {fine} differ in voxel size (0.5, 0.8, 2.0) and (0.5, 0.8, 1.0)"
        in _refusal([first, fine])
    )
    smaller = _nifti(tmp_path / "small.nii.gz", a[:, :, :6], AFFINE)
    assert f"{first} and {smaller} differ in shape (6, 7, 8) and (6, 7, 6)" in _refusal(
        [first, smaller]
    )
    turn = np.eye(4)
    turn[:2, :2] = [[np.cos(0.1), -np.sin(0.1)], [np.sin(0.1), np.cos(0.1)]]
    tilted = _nifti(tmp_path / "tilted.nii.gz", a, turn @ AFFINE)
    assert "differ in axis directions (cosines differ by up to" in _refusal([first, tilted])


# --------------------------------------------------------------------------- #
# Mask arrays with a trailing channel axis
# --------------------------------------------------------------------------- #
def _two_masks():
    a = np.zeros((9, 10), bool)
    a[2:6, 3:8] = True
    b = np.zeros_like(a)
    b[3:7, 2:7] = True
    return np.stack([a, b])


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_trailing_channel_axis_is_reduced_when_its_channels_agree(channels):
    stack = _two_masks()
    expected = pairwise_agreement(stack, METRICS)
    pictures = np.repeat(stack[..., None].astype(np.uint8) * 255, channels, axis=-1)
    pd.testing.assert_frame_equal(pairwise_agreement(pictures, METRICS), expected)
    # A list of (H, W, C) arrays too, and the consensus keeps the 2-D shape.
    pd.testing.assert_frame_equal(pairwise_agreement(list(pictures), METRICS), expected)
    assert check_mask_stack(pictures).shape == stack.shape


def test_trailing_channel_axis_whose_channels_differ_is_refused():
    pictures = np.repeat(_two_masks()[..., None], 3, axis=-1)
    pictures[1, 0, 0, 2] = True  # the blue channel of mask 1 differs
    with pytest.raises(ValueError) as exc:
        pairwise_agreement(pictures, METRICS, image_id="ISIC_1")
    assert str(exc.value) == (
        "image ISIC_1: mask 1: shape (9, 10, 3) ends in an axis of 3, read as colour "
        "channels, and its channels differ; pass one channel (mask[..., 0]) or, if that axis "
        "is spatial (a volume that thin), give a spacing with one value per axis, e.g. "
        "spacing=(1, 1, 1), or move the axis first (np.moveaxis(mask, -1, 0))"
    )


def test_spacing_per_axis_says_that_a_thin_last_axis_is_spatial(tmp_path):
    a, b = _volumes()
    thin = np.stack([a[:, :, 2:5], b[:, :, 2:5]])  # volumes 3 voxels thin
    spacing = (0.5, 0.8, 2.0)
    got = pairwise_agreement(thin, METRICS, spacing=spacing)
    # The same volumes with the thin axis first: the metrics ignore the axis order.
    moved = pairwise_agreement(np.moveaxis(thin, -1, 1), METRICS, spacing=(2.0, 0.5, 0.8))
    pd.testing.assert_frame_equal(got, moved)
    np.save(tmp_path / "a.npy", thin[0])
    np.save(tmp_path / "b.npy", thin[1])
    files = pairwise_agreement([tmp_path / "a.npy", tmp_path / "b.npy"], METRICS, spacing=spacing)
    pd.testing.assert_frame_equal(files, got)


def test_palette_label_map_is_read_by_its_indices(tmp_path):
    from skiaa._masks import read_mask_and_spacing

    classes = np.zeros((6, 6), np.uint8)
    classes[1:3, 1:4], classes[4:, 2:] = 1, 2
    # PASCAL VOC's convention: the palette colours the classes, the indices are them.
    path = _palette_mask(tmp_path / "labels.png", classes, [0, 0, 0, 128, 0, 0, 0, 128, 0])
    np.testing.assert_array_equal(read_mask_and_spacing(path, labels=True)[0], classes)
