"""Turn the image inputs the estimators accept into one indexable representation.

Accepted (``X`` of ``fit``/``predict``):

- uint8 array (n, H, W, C) with C in {1, 3, 4} or (n, H, W) (kept as is,
  memory-mapped arrays included: no copy unless channels must be converted);
- float array (n, C, H, W), intensities in [0, 1] (any C: the backbone gets C
  input channels);
- a list of uint8 (H, W[, C]) arrays of possibly different sizes (resized);
- a sequence of image paths (decoded once, resized and cached by
  :func:`skiaa.datasets.load_images`);
- a :class:`torch.utils.data.Dataset` whose items are images or tuples whose
  first element is the image (converted item by item).
"""

import os
from numbers import Integral

import numpy as np
import scipy.sparse
import torch
from PIL import Image
from torch.nn import functional as F

from ..utils import is_path_sequence


def _rgb_uint8(img):
    # Grayscale -> RGB, RGBA -> RGB (alpha dropped), for one (H, W[, C]) image.
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got {img.shape}."
        )
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def _resize_uint8(img, size):
    if size is None or img.shape[:2] == (size, size):
        return img
    return np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))


def _load_paths(paths, image_size, cache_dir):
    from ..datasets import load_images

    if image_size is None:
        raise ValueError("image_size=None cannot be used with image paths: pass an int.")
    return load_images([os.fspath(p) for p in paths], image_size, cache_dir=cache_dir)


class ItemImages(torch.utils.data.Dataset):
    """Images of a user's torch Dataset, converted and resized item by item."""

    def __init__(self, dataset, image_size):
        self.dataset = dataset
        self.image_size = image_size

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        item = self.dataset[i]
        if isinstance(item, (tuple, list)):
            item = item[0]
        if isinstance(item, Image.Image):
            item = np.asarray(item.convert("RGB"))
        if torch.is_tensor(item) and item.dtype != torch.uint8:
            x = item.float()
        elif isinstance(item, np.ndarray) and item.dtype.kind == "f":
            x = torch.from_numpy(np.asarray(item, dtype=np.float32))
        else:
            img = item.numpy() if torch.is_tensor(item) else np.asarray(item)
            if img.ndim == 3 and img.shape[-1] not in (1, 3, 4) and img.shape[0] in (1, 3, 4):
                img = img.transpose(1, 2, 0)  # uint8 CHW (e.g. skiaa.datasets.ImageDataset)
            if img.dtype != np.uint8:
                raise ValueError(
                    f"dataset item {i}: images must be uint8 or float, got {img.dtype}."
                )
            return torch.from_numpy(_resize_uint8(_rgb_uint8(img), self.image_size))
        if x.ndim != 3:
            raise ValueError(
                f"dataset item {i}: float images must be (C, H, W), got {tuple(x.shape)}."
            )
        size = self.image_size
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x[None], size=(size, size), mode="bicubic", antialias=True)[0]
        return x

    def first(self):
        return self[0]


def as_images(X, image_size, *, cache_dir=None):
    """Return ``(images, n_channels)``; ``images`` is indexable by sample."""
    from ..datasets import ImageDataset

    if isinstance(X, ImageDataset):
        X = X.images  # its uint8 array: batches are then sliced without per-item work
    elif isinstance(X, torch.utils.data.Dataset):
        images = ItemImages(X, image_size)
        if len(images) == 0:
            raise ValueError("X is an empty Dataset.")
        first = images.first()
        n_channels = first.shape[-1] if first.dtype == torch.uint8 else first.shape[0]
        return images, int(n_channels)
    if is_path_sequence(X):
        return _load_paths(X, image_size, cache_dir), 3
    if isinstance(X, (list, tuple)) and len(X) and all(np.ndim(x) in (2, 3) for x in X):
        if image_size is None and len({np.shape(x)[:2] for x in X}) > 1:
            raise ValueError("Images of different sizes need an int image_size.")
        out = []
        for i, img in enumerate(X):
            img = np.asarray(img)
            if img.dtype != np.uint8:
                raise ValueError(
                    f"image {i}: a list of images must hold uint8 arrays, got {img.dtype}."
                )
            out.append(_resize_uint8(_rgb_uint8(img), image_size))
        return np.stack(out), 3
    if torch.is_tensor(X):
        X = X.numpy()
    if scipy.sparse.issparse(X):
        raise TypeError("Sparse input is not supported: pass images as dense arrays.")
    if not hasattr(X, "dtype") or not hasattr(X, "shape"):
        X = np.asarray(X)
    if X.dtype == np.uint8:
        if X.ndim == 3:
            X = X[..., None]
        if X.ndim != 4 or X.shape[-1] not in (1, 3, 4):
            raise ValueError(
                f"uint8 images must have shape (n, H, W) or (n, H, W, C) with C in 1, 3, 4; "
                f"got {X.shape}."
            )
        if X.shape[-1] == 1:
            X = np.repeat(X, 3, axis=-1)
        elif X.shape[-1] == 4:
            X = X[..., :3]  # RGBA -> RGB: the alpha channel is dropped
        return _check_n(X), 3
    if X.dtype.kind == "f":
        if X.ndim != 4:
            raise ValueError(
                f"float images must have shape (n, C, H, W), got an array of shape {X.shape}; "
                "these estimators take images, not feature tables."
            )
        X = np.asarray(X, dtype=np.float32)
        bad = ~np.isfinite(X).reshape(len(X), -1).all(axis=1)
        if bad.any():
            raise ValueError(f"X has NaN or infinite values in rows {_rows(bad)}.")
        return _check_n(X), int(X.shape[1])
    if X.dtype.kind == "c":
        raise ValueError("Complex data not supported: pass uint8 or float images.")
    raise ValueError(
        "X must be uint8 images (n, H, W, C), float images (n, C, H, W), a list of images, "
        f"a sequence of image paths or a torch Dataset; got dtype {X.dtype} and shape "
        f"{getattr(X, 'shape', None)}."
    )


def _check_n(X):
    if X.shape[0] == 0:
        raise ValueError("X holds no images (0 samples).")
    return X


def _rows(mask, limit=10):
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in idx[:limit])
    return f"[{shown}{', ...' if len(idx) > limit else ''}] ({len(idx)} in all)"


def n_samples(images):
    return len(images)


def check_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)
