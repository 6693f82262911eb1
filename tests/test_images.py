"""Image decoding, the on-disk cache and the torch Dataset."""

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from skiaa.datasets import _images, image_cache_path, load_images


def _write(path, array, **kwargs):
    Image.fromarray(array).save(path, **kwargs)
    return path


@pytest.fixture
def image_files(tmp_path):
    rng = np.random.default_rng(0)
    paths = [
        _write(tmp_path / "rgb.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)),
        _write(tmp_path / "grey.png", rng.integers(0, 256, (20, 20), dtype=np.uint8)),
        _write(tmp_path / "rgba.png", rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)),
        _write(tmp_path / "photo.jpg", rng.integers(0, 256, (33, 27, 3), dtype=np.uint8)),
    ]
    return paths


def test_decodes_to_rgb_uint8_with_pil_bicubic(image_files):
    X = load_images(image_files, (12, 10))
    assert X.shape == (4, 12, 10, 3) and X.dtype == np.uint8
    for path, row in zip(image_files, X):
        # Reference: PIL's own RGB conversion and bicubic resize (the paper's).
        with Image.open(path) as img:
            ref = np.asarray(img.convert("RGB").resize((10, 12), Image.Resampling.BICUBIC))
        np.testing.assert_array_equal(row, ref)


def test_int_size_and_no_resample_at_target_size(tmp_path):
    array = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    path = _write(tmp_path / "a.png", array)
    # PNG is lossless and already 8 x 8: pixels come back untouched.
    np.testing.assert_array_equal(load_images([path], 8)[0], array)


@pytest.mark.parametrize("image_size", [0, (4, -1), "big", (1, 2, 3), True, 8.5, (8, 8.5)])
def test_bad_image_size(image_files, image_size):
    # Floats are refused, not truncated: 8.5 is no image size.
    with pytest.raises(ValueError, match="image_size"):
        load_images(image_files, image_size)


def test_single_path_rejected(image_files):
    with pytest.raises(ValueError, match="sequence"):
        load_images(image_files[0], 8)


def test_missing_file_is_named(image_files, tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        load_images([*image_files, missing], 8)


def test_corrupt_file_is_named(image_files, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        load_images([image_files[0], bad], 8)
    # A truncated JPEG too.
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(image_files[3].read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.jpg"):
        load_images([truncated], 8)


def test_parallel_equals_serial(image_files, monkeypatch):
    monkeypatch.setattr(_images, "_CHUNK", 1)  # several tasks with only 4 images
    np.testing.assert_array_equal(
        load_images(image_files, 9, n_jobs=2), load_images(image_files, 9, n_jobs=1)
    )


def test_empty_list():
    assert load_images([], 5).shape == (0, 5, 5, 3)


def test_cache_miss_then_hit(image_files, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = load_images(image_files, 11, cache_dir=cache)
    assert isinstance(first, np.memmap) and not first.flags.writeable
    files = sorted(p.name for p in cache.iterdir())
    npy = image_cache_path(image_files, 11, cache)
    assert files == sorted([npy.name, npy.with_suffix(".json").name])

    # A hit decodes nothing.
    def boom(*args, **kwargs):
        raise AssertionError("decoded on a cache hit")

    monkeypatch.setattr(_images, "_decode", boom)
    second = load_images(image_files, 11, cache_dir=cache)
    np.testing.assert_array_equal(first, second)
    assert sorted(p.name for p in cache.iterdir()) == files
    # Another size is a miss.
    with pytest.raises(AssertionError, match="decoded on a cache hit"):
        load_images(image_files, 12, cache_dir=cache)


def test_cache_invalidated_when_a_file_changes(image_files, tmp_path):
    cache = tmp_path / "cache"
    before = np.array(load_images(image_files, 8, cache_dir=cache))
    old_key = image_cache_path(image_files, 8, cache)
    _write(image_files[0], np.zeros((40, 50, 3), dtype=np.uint8))
    st = os.stat(image_files[0])
    # Make sure the modification time moves even on coarse-grained file systems.
    os.utime(image_files[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert image_cache_path(image_files, 8, cache) != old_key
    after = load_images(image_files, 8, cache_dir=cache)
    assert (after[0] == 0).all() and not (before[0] == 0).all()
    np.testing.assert_array_equal(after[1:], before[1:])


def _count_decodes(monkeypatch):
    calls = []
    real = _images._decode

    def counting(path, size):
        calls.append(path)
        return real(path, size)

    monkeypatch.setattr(_images, "_decode", counting)
    return calls


def test_changed_file_alone_is_decoded_again(image_files, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    load_images(image_files, 8, cache_dir=cache)
    _write(image_files[2], np.zeros((16, 16, 4), dtype=np.uint8))
    st = os.stat(image_files[2])
    os.utime(image_files[2], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    calls = _count_decodes(monkeypatch)
    after = load_images(image_files, 8, cache_dir=cache)
    assert [os.path.basename(c) for c in calls] == ["rgba.png"]
    np.testing.assert_array_equal(after, load_images(image_files, 8))


def test_subsets_and_reorderings_reuse_decoded_images(image_files, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    full = np.array(load_images(image_files, 8, cache_dir=cache))
    calls = _count_decodes(monkeypatch)
    subset = load_images([image_files[3], image_files[1]], 8, cache_dir=cache)
    assert calls == []
    np.testing.assert_array_equal(subset, full[[3, 1]])
    # A damaged index only costs decoding again, not an error.
    for index in cache.glob("*.json"):
        index.write_text("{not json")
    again = load_images(image_files[::-1], 8, cache_dir=cache)
    assert len(calls) == 4
    np.testing.assert_array_equal(again, full[::-1])


def test_cache_agrees_with_in_memory(image_files, tmp_path):
    np.testing.assert_array_equal(
        load_images(image_files, 7, cache_dir=tmp_path / "c"), load_images(image_files, 7)
    )


def test_failed_decode_leaves_no_cache_file(image_files, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"garbage")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="broken.png"):
        load_images([*image_files, bad], 8, cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_torch_free_import():
    import subprocess
    import sys

    code = "import sys, skiaa.datasets as d; d.load_images; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class TestImageDataset:
    torch = pytest.importorskip("torch")

    def test_array_input(self):
        from skiaa.datasets import ImageDataset

        X = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
        ds = ImageDataset(X, y=np.array([0, 1]))
        image, target = ds[1]
        assert image.shape == (3, 4, 5) and image.dtype == self.torch.uint8
        np.testing.assert_array_equal(image.numpy(), X[1].transpose(2, 0, 1))
        assert target.dtype == self.torch.int64 and int(target) == 1

    def test_paths_scale_transform_and_no_target(self, image_files, tmp_path):
        from skiaa.datasets import ImageDataset

        ds = ImageDataset(
            image_files,
            image_size=6,
            cache_dir=tmp_path / "c",
            scale=True,
            transform=lambda t: t * 2,
        )
        assert len(ds) == 4
        image, target = ds[0]
        expected = load_images(image_files, 6)[0].transpose(2, 0, 1) / 255.0 * 2
        np.testing.assert_allclose(image.numpy(), expected, rtol=1e-6)
        assert int(target) == 0

    def test_float_images_and_other_datasets(self):
        from skiaa.datasets import ImageDataset

        X = np.random.default_rng(0).random((3, 5, 4, 4), dtype=np.float32)
        ds = ImageDataset(X)
        assert ds.n_channels == 5
        np.testing.assert_array_equal(ds[2][0].numpy(), X[2])
        # A torch Dataset of uint8 HWC images, resized; the items become CHW.
        U = np.arange(2 * 6 * 6 * 3, dtype=np.uint8).reshape(2, 6, 6, 3)
        inner = self.torch.utils.data.TensorDataset(self.torch.from_numpy(U))
        wrapped = ImageDataset(inner, image_size=4, y=[0.5, 0.25])
        image, target = wrapped[1]
        assert image.shape == (3, 4, 4) and image.dtype == self.torch.uint8
        assert float(target) == 0.25
        np.testing.assert_array_equal(ImageDataset(inner)[1][0].numpy(), U[1].transpose(2, 0, 1))
        # An ImageDataset of an ImageDataset shares its images.
        again = ImageDataset(wrapped)
        assert again.n_channels == 3 and len(again) == 2 and again.targets is None
        np.testing.assert_array_equal(again[1][0].numpy(), image.numpy())

    def test_float_targets_and_dataloader(self):
        from torch.utils.data import DataLoader

        from skiaa.datasets import ImageDataset

        X = np.zeros((5, 4, 4, 3), dtype=np.uint8)
        y = np.linspace(0, 1, 5)
        xb, yb = next(iter(DataLoader(ImageDataset(X, y), batch_size=5)))
        assert xb.shape == (5, 3, 4, 4) and yb.dtype == self.torch.float32
        np.testing.assert_allclose(yb.numpy(), y, rtol=1e-6)

    def test_pickles_a_memmap_by_file_name(self, image_files, tmp_path):
        import pickle

        from skiaa.datasets import ImageDataset

        X = load_images(image_files, 16, cache_dir=tmp_path / "c")
        ds = ImageDataset(X, y=np.arange(4))
        blob = pickle.dumps(ds)
        assert len(blob) < X.nbytes  # the pixels did not travel
        clone = pickle.loads(blob)
        assert isinstance(clone.images, np.memmap)
        np.testing.assert_array_equal(clone[2][0].numpy(), ds[2][0].numpy())
        # A slice of the map is not the whole file: pickled by value.
        part = pickle.loads(pickle.dumps(ImageDataset(X[1:3])))
        np.testing.assert_array_equal(part.images, X[1:3])

    def test_errors(self, image_files):
        from skiaa.datasets import ImageDataset

        with pytest.raises(ValueError, match="image_size is required"):
            ImageDataset(image_files)
        with pytest.raises(ValueError, match=r"looks like \(n, H, W, C\).*Accepted layouts"):
            ImageDataset(np.zeros((2, 8, 8, 3), dtype=np.float32))
        X255 = np.zeros((3, 3, 8, 8), dtype=np.float32)
        X255[1, 0, 0, 0] = 255.0
        with pytest.raises(
            ValueError, match=r"\[0, 1\], but X has values in \[0, 255\] in rows \[1\]"
        ):
            ImageDataset(X255)
        with pytest.raises(ValueError, match="uint8 array"):
            ImageDataset(np.zeros((2, 8, 8, 3), dtype=np.int16))
        with pytest.raises(ValueError, match="2 images but y has 3"):
            ImageDataset(np.zeros((2, 4, 4, 3), dtype=np.uint8), y=[0, 1, 2])


@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 12), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)),
        elements=st.one_of(
            st.floats(0, 1, width=32),
            st.floats(-300, 300, width=32),
            st.sampled_from([np.nan, np.inf, -np.inf]),
        ),
    )
)
def test_float_range_check_names_exactly_the_bad_rows(X):
    from skiaa.utils import check_float_range, describe_rows

    flat = X.reshape(len(X), -1)
    nonfinite = ~np.isfinite(flat).all(axis=1)
    clean = np.where(np.isfinite(flat), flat, 0.5)
    outside = (clean < 0).any(axis=1) | (clean > 1).any(axis=1)
    if not nonfinite.any() and not outside.any():
        check_float_range(X, "X")  # no error
        return
    with pytest.raises(ValueError) as info:
        check_float_range(X, "X")
    bad = nonfinite if nonfinite.any() else outside
    assert f"in rows {describe_rows(bad)}" in str(info.value)
