"""Fault injection, the image cache of ``load_images``.

A cache entry that cannot be read (a truncated ``.npy`` gave
numpy's "mmap length is greater than file size", even for a new image list
borrowing only some rows from it) is a miss: a warning names the file and the
images are decoded again, to exactly the pixels of an uncached decode. The
cache keys on file content: a file replaced with its size and modification
time kept is decoded again; cache files follow the umask.
"""

import os
import shutil
import stat

import numpy as np
import pytest
from PIL import Image

from skiaa.datasets import _images, image_cache_path, load_images


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    paths = []
    for k in range(6):
        path = folder / f"img{k}.png"
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _cache_files(cache):
    return sorted(p for p in cache.glob("images_*.npy"))


def test_truncated_cache_file_is_a_miss(images, tmp_path):
    cache = tmp_path / "cache"
    expected = load_images(images, 8)
    load_images(images, 8, cache_dir=cache)
    (array_file,) = _cache_files(cache)
    _truncate(array_file)
    with pytest.warns(UserWarning) as record:
        again = load_images(images, 8, cache_dir=cache)
    messages = [str(w.message) for w in record]
    assert any(
        f"image cache file {str(array_file)!r} cannot be read" in m and "decoding" in m
        for m in messages
    ), messages
    np.testing.assert_array_equal(again, expected)
    # Rebuilt in place: the next call is a silent hit.
    np.testing.assert_array_equal(load_images(images, 8, cache_dir=cache), expected)


def test_new_list_borrowing_rows_from_a_truncated_file(images, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    expected = load_images(images, 8)
    load_images(images[:4], 8, cache_dir=cache)  # rows 0-3 cached
    (array_file,) = _cache_files(cache)
    _truncate(array_file, keep=0.3)
    decoded = []
    real = _images._decode
    monkeypatch.setattr(_images, "_decode", lambda p, s: decoded.append(p) or real(p, s))
    with pytest.warns(UserWarning, match="cannot be read"):
        again = load_images(images[2:], 8, cache_dir=cache)  # shares rows 2, 3
    np.testing.assert_array_equal(again, expected[2:])
    assert len(decoded) == 4  # the borrowed rows were decoded, not read from the damage


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(b""),
        lambda p: p.write_bytes(b"\x93NUMPY garbage"),
        lambda p: np.save(p, np.zeros((2, 8, 8, 3), np.uint8)),  # wrong number of rows
        lambda p: np.save(p, np.zeros((6, 8, 8, 3), np.float32)),  # wrong dtype
    ],
    ids=["empty", "garbage", "wrong-shape", "wrong-dtype"],
)
def test_damaged_cache_file_is_a_miss(images, tmp_path, damage):
    cache = tmp_path / "cache"
    expected = load_images(images, 8)
    load_images(images, 8, cache_dir=cache)
    (array_file,) = _cache_files(cache)
    damage(array_file)
    with pytest.warns(UserWarning, match=f"image cache file {str(array_file)!r}"):
        again = load_images(images, 8, cache_dir=cache)
    np.testing.assert_array_equal(again, expected)


def test_cache_keys_on_content_not_time_or_path(tmp_path):
    # BMP files of equal dimensions have equal byte sizes: replacing one by the
    # other with its modification time kept (cp -p, rsync -t) changes nothing
    # a stat-based key sees.
    rng = np.random.default_rng(5)
    folder = tmp_path / "bmp"
    folder.mkdir()
    paths = [folder / f"{k}.bmp" for k in range(3)]
    for path in paths:
        Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(path)
    cache = tmp_path / "cache"
    first = np.array(load_images(paths, 8, cache_dir=cache))
    key = image_cache_path(paths, 8, cache)
    st = os.stat(paths[0])
    shutil.copyfile(paths[1], paths[0])
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(paths[0]).st_size == st.st_size
    assert os.stat(paths[0]).st_mtime_ns == st.st_mtime_ns
    assert image_cache_path(paths, 8, cache) != key
    after = load_images(paths, 8, cache_dir=cache)
    np.testing.assert_array_equal(after[0], first[1])
    np.testing.assert_array_equal(after[1:], first[1:])
    # A copy of the dataset elsewhere is a hit: the key follows the bytes.
    moved = tmp_path / "moved"
    shutil.copytree(folder, moved)
    copies = [moved / p.name for p in paths]
    assert image_cache_path(copies, 8, cache) == image_cache_path(paths, 8, cache)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_cache_files_follow_the_umask(images, tmp_path, umask):
    old = os.umask(umask)
    try:
        load_images(images, 8, cache_dir=tmp_path / "cache")
    finally:
        os.umask(old)
    files = list((tmp_path / "cache").iterdir())
    assert {p.suffix for p in files} == {".npy", ".json"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name


# --------------------------------------------------------------------------- #
# Files read for what they show, whatever way they store it
# --------------------------------------------------------------------------- #
def _palette_image(indices, palette):
    img = Image.fromarray(indices, mode="P")
    img.putpalette(palette)
    return img


def test_palette_image_is_read_through_its_palette(tmp_path):
    indices = np.zeros((6, 8), np.uint8)
    indices[2:4, 3:6] = 1
    # Index 0 is white and index 1 black: the colours, not the indices, are the image.
    inverted = [255, 255, 255, 0, 0, 0] + [0] * 762
    path = tmp_path / "palette.png"
    _palette_image(indices, inverted).save(path)
    (decoded,) = load_images([path], (6, 8))
    expected = np.where(indices == 1, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(decoded, np.repeat(expected[..., None], 3, axis=2))


def test_sixteen_bit_grey_png_is_scaled_not_saturated(tmp_path):
    grey = np.array([[0, 257, 32896], [65535, 1000, 60000]], dtype=np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(grey).save(path)
    assert Image.open(path).mode.startswith("I")
    (decoded,) = load_images([path], (2, 3))
    expected = np.rint(grey / 65535 * 255).astype(np.uint8)
    np.testing.assert_array_equal(decoded, np.repeat(expected[..., None], 3, axis=2))
    assert decoded.max() == 255 and decoded[0, 1, 0] == 1  # not every value >= 255 -> 255


def test_float_tiff_in_unit_range_is_scaled(tmp_path):
    grey = np.array([[0.0, 0.25, 0.5], [0.75, 1.0, 0.1]], dtype=np.float32)
    path = tmp_path / "float.tif"
    Image.fromarray(grey).save(path)
    assert Image.open(path).mode == "F"
    (decoded,) = load_images([path], (2, 3))
    expected = np.rint(grey.astype(np.float64) * 255).astype(np.uint8)
    np.testing.assert_array_equal(decoded[..., 0], expected)


def test_float_tiff_outside_unit_range_is_refused(tmp_path):
    path = tmp_path / "float255.tif"
    Image.fromarray(np.array([[0.0, 200.0]], dtype=np.float32)).save(path)
    with pytest.raises(ValueError) as exc:
        load_images([path], 4)
    assert str(exc.value) == (
        f"{path}: float (mode 'F') image with values in [0, 200]; "
        "float images must hold intensities in [0, 1]"
    )


def test_image_mode_not_understood_is_refused_naming_it(tmp_path):
    path = tmp_path / "int32.tif"
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(path)
    with pytest.raises(ValueError) as exc:
        load_images([path], 4)
    message = str(exc.value)
    assert message.startswith(f"{path}: image mode 'I' is not understood; skiaa reads ")
    assert message.endswith("Convert the file to 8-bit grey or RGB.")


def test_over_large_image_is_a_value_error_naming_the_file(tmp_path, monkeypatch):
    path = tmp_path / "large.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(path)
    # Pillow raises DecompressionBombError (not a ValueError) over twice the limit.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    for n_jobs in (1, 2):  # the caller's limit reaches worker processes too
        with pytest.raises(ValueError) as exc:
            load_images([path, path], 4, n_jobs=n_jobs)
        message = str(exc.value)
        assert message.startswith(f"{path}: Image size (2000 pixels) exceeds limit")
        assert "PIL.Image.MAX_IMAGE_PIXELS = <pixels> (now 500; None removes the check)" in message
    # Raising the limit, as the message says, reads it (in worker processes as well).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4000)
    assert load_images([path, path], 4, n_jobs=2).shape == (2, 4, 4, 3)


def test_dataset_of_sixteen_bit_pil_images_is_scaled():
    from torch.utils.data import Dataset

    from skiaa.datasets import ImageDataset

    grey = np.array([[0, 257], [32896, 65535]], dtype=np.uint16)

    class Items(Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return Image.fromarray(grey), 0

    image, _ = ImageDataset(Items())[0]
    expected = np.rint(grey / 65535 * 255).astype(np.uint8)
    np.testing.assert_array_equal(image.numpy(), np.repeat(expected[None], 3, axis=0))
