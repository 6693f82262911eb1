"""Turn the image inputs the estimators accept into one :class:`~skiaa.datasets.ImageDataset`.

Accepted (``X`` of ``fit``/``predict``):

- uint8 array (n, H, W, C) with C in {1, 3, 4} or (n, H, W) (kept as is,
  memory-mapped arrays included: no copy unless channels must be converted);
  X is always a batch, as in scikit-learn: one (H, W, C) or (C, H, W) image,
  or one path, is refused with a message saying to pass ``X[None]``
  (``[path]``), not read as H grey images;
- float array (n, C, H, W), intensities in [0, 1] (any C: the backbone gets C
  input channels);
- a list of uint8 (H, W[, C]) arrays of possibly different sizes (resized);
- a sequence of image paths (decoded once, resized and cached by
  :func:`skiaa.datasets.load_images`);
- a :class:`torch.utils.data.Dataset` whose items are images or tuples whose
  first element is the image (converted item by item).
"""

import os

import numpy as np
import scipy.sparse
import torch

from ..datasets import ImageDataset
from ..utils import (
    ACCEPTED_LAYOUTS,
    describe_rows,
    is_path,
    is_path_sequence,
    resize_uint8,
    rgb_uint8,
)


def _load_paths(paths, image_size, cache_dir):
    from ..datasets import load_images

    if image_size is None:
        raise ValueError("image_size=None cannot be used with image paths: pass an int.")
    return load_images([os.fspath(p) for p in paths], image_size, cache_dir=cache_dir)


def as_images(X, image_size, *, cache_dir=None):
    """Return ``X`` as an :class:`~skiaa.datasets.ImageDataset` without targets.

    Its ``n_channels`` is the number of channels the backbone gets.
    """
    if is_path(X):
        raise ValueError(
            f"X is one path ({os.fspath(X)!r}); pass a sequence of image paths, "
            "e.g. [path] for one image."
        )
    if isinstance(X, ImageDataset):
        # Its array is reused as is (batches are then sliced without per-item work);
        # its targets and transform are not the estimator's business.
        return ImageDataset(X.images, image_size=image_size)
    if isinstance(X, torch.utils.data.Dataset):
        return ImageDataset(X, image_size=image_size)
    if is_path_sequence(X):
        return ImageDataset(_load_paths(X, image_size, cache_dir))
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
            out.append(resize_uint8(rgb_uint8(img), image_size))
        return ImageDataset(np.stack(out))
    if torch.is_tensor(X):
        X = X.numpy()
    if scipy.sparse.issparse(X):
        raise TypeError("Sparse input is not supported: pass images as dense arrays.")
    if not hasattr(X, "dtype") or not hasattr(X, "shape"):
        X = np.asarray(X)
    if X.dtype == np.uint8:
        if X.ndim == 3 and X.shape[-1] in (1, 3, 4):
            # (n, H, W) grey images 1, 3 or 4 pixels wide are not images anyone
            # has; read as such, one RGB image would give H predictions.
            raise ValueError(
                f"X has shape {X.shape}, which looks like one (H, W, C) image; estimators "
                f"take a batch of images: pass X[None] (shape {(1, *X.shape)}) for one image."
            )
        if X.ndim == 3:
            X = X[..., None]
        if X.ndim == 4 and X.shape[-1] == 1:
            X = np.repeat(X, 3, axis=-1)
        elif X.ndim == 4 and X.shape[-1] == 4:
            X = X[..., :3]  # RGBA -> RGB: the alpha channel is dropped
        elif X.ndim != 4 or X.shape[-1] != 3 and X.shape[1] not in (1, 3, 4):
            raise ValueError(
                f"uint8 images must have shape (n, H, W) or (n, H, W, C) with C in 1, 3, 4; "
                f"got {X.shape}. {ACCEPTED_LAYOUTS}"
            )
        return ImageDataset(X)
    if X.dtype.kind == "f":
        if X.ndim == 3:
            raise ValueError(
                f"float images must have shape (n, C, H, W), got an array of shape {X.shape}, "
                f"which looks like one (C, H, W) image: pass X[None] (shape {(1, *X.shape)}) "
                "for one image."
            )
        if X.ndim != 4:
            raise ValueError(
                f"float images must have shape (n, C, H, W), got an array of shape {X.shape}; "
                "these estimators take images, not feature tables."
            )
        return ImageDataset(np.asarray(X, dtype=np.float32))
    if X.dtype.kind == "c":
        raise ValueError("Complex data not supported: pass uint8 or float images.")
    raise ValueError(
        "X must be uint8 images (n, H, W, C), float images (n, C, H, W), a list of images, "
        f"a sequence of image paths or a torch Dataset; got dtype {X.dtype} and shape "
        f"{getattr(X, 'shape', None)}."
    )


_rows = describe_rows
