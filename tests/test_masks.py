"""Reading and validating masks (skiaa._masks)."""

import numpy as np
import pytest
from PIL import Image

from skiaa._masks import as_binary_mask, check_mask_stack, read_mask


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float32])
def test_as_binary_mask_accepts_0_1(dtype):
    arr = np.array([[0, 1], [1, 0]]).astype(dtype)
    out = as_binary_mask(arr)
    assert out.dtype == bool
    np.testing.assert_array_equal(out, [[False, True], [True, False]])


def test_as_binary_mask_accepts_0_255_and_constant_masks():
    np.testing.assert_array_equal(as_binary_mask(np.array([0, 255], np.uint8)), [False, True])
    assert not as_binary_mask(np.zeros(3, np.uint8)).any()
    assert as_binary_mask(np.full(3, 255, np.uint8)).all()


@pytest.mark.parametrize(
    "values", [[0, 128], [0, 1, 255], [0, 2], [-1, 0], [0.5, 0], [np.nan, 1], [0, 254]]
)
def test_as_binary_mask_rejects_other_values(values):
    with pytest.raises(ValueError, match=r"\{0, 1\} or \{0, 255\}") as exc:
        as_binary_mask(np.array(values), what="mask 3")
    assert "mask 3" in str(exc.value)


def test_as_binary_mask_rejects_scalars_and_strings():
    with pytest.raises(ValueError, match="scalar"):
        as_binary_mask(1)
    with pytest.raises(ValueError, match="dtype"):
        as_binary_mask(np.array(["a", "b"]))


def _save(path, arr, mode=None):
    Image.fromarray(arr, mode=mode).save(path)
    return path


def test_read_mask_grey_and_rgb(tmp_path):
    arr = np.array([[0, 255, 0], [255, 255, 0]], np.uint8)
    expected = arr > 0
    np.testing.assert_array_equal(read_mask(_save(tmp_path / "g.png", arr)), expected)
    rgb = np.repeat(arr[..., None], 3, axis=2)
    np.testing.assert_array_equal(read_mask(_save(tmp_path / "c.png", rgb)), expected)
    rgba = np.concatenate([rgb, np.full(arr.shape + (1,), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(read_mask(_save(tmp_path / "a.png", rgba)), expected)
    one = Image.fromarray(arr > 0)  # mode "1"
    one.save(tmp_path / "b.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "b.png"), expected)


def test_read_mask_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="missing.png"):
        read_mask(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="junk.png"):
        read_mask(tmp_path / "junk.png")
    colour = np.zeros((2, 2, 3), np.uint8)
    colour[0, 0] = (255, 0, 0)
    with pytest.raises(ValueError, match="channels differ"):
        read_mask(_save(tmp_path / "red.png", colour))
    grey = np.array([[0, 128]], np.uint8)
    with pytest.raises(ValueError, match="grey.png"):
        read_mask(_save(tmp_path / "grey.png", grey))


def test_check_mask_stack_mixed_inputs(tmp_path):
    a = np.array([[0, 255], [0, 0]], np.uint8)
    path = _save(tmp_path / "m.png", a)
    stack = check_mask_stack([a > 0, a // 255, str(path), path])
    assert stack.shape == (4, 2, 2) and stack.dtype == bool
    assert (stack == (a > 0)).all()


def test_check_mask_stack_errors_name_the_image():
    good = np.zeros((2, 2), bool)
    with pytest.raises(ValueError, match="image 5: needs at least 2 masks, got 1"):
        check_mask_stack([good], image_index=5)
    with pytest.raises(ValueError, match="image 5: all masks .* same shape"):
        check_mask_stack([good, np.zeros((3, 2), bool)], image_index=5)
    with pytest.raises(ValueError, match=r"image 5: mask 1: mask values"):
        check_mask_stack([good, np.full((2, 2), 7)], image_index=5)
    with pytest.raises(ValueError, match="image 5: mask 0 must be 2-D"):
        check_mask_stack([np.zeros(3), np.zeros(3)], image_index=5)
    with pytest.raises(ValueError, match="image 5: a mask stack must be at least 3-D"):
        check_mask_stack(np.zeros((2, 2)), image_index=5)
    with pytest.raises(ValueError, match="image 5: cannot read mask file"):
        check_mask_stack([good, "nowhere.png"], image_index=5)
    with pytest.raises(ValueError, match="one path"):
        check_mask_stack("nowhere.png")
    with pytest.raises(ValueError, match="sequence of masks"):
        check_mask_stack(3)
