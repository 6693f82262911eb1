"""The one torch ``Dataset`` over images of skiaa, and the image checks it applies.

Kept out of :mod:`skiaa.datasets`' eager imports (loaded lazily on first access)
so that reading tables and computing statistics never imports torch.
"""

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from torch.utils.data import Dataset

from ..utils import (
    ACCEPTED_LAYOUTS,
    check_float_range,
    image_to_uint8,
    is_path_sequence,
    pil_image_array,
    resize_uint8,
    rgb_uint8,
)
from ._images import load_images


class ImageDataset(Dataset):
    """Images (and optional targets) as a torch ``Dataset`` of CHW tensors.

    The one image ``Dataset`` of skiaa: the estimators wrap whatever images
    they are given in it, so every input format reaches the network the same
    way.

    Parameters
    ----------
    X : array-like, sequence of paths or torch Dataset
        Images, one of:

        - a uint8 array of shape (n_samples, height, width, 3), as returned by
          :func:`load_images` (in memory or memory-mapped; it is not copied);
        - a float array of shape (n_samples, channels, height, width) with
          intensities in [0, 1] (any number of channels);
        - image file paths, decoded once through :func:`load_images` with
          ``image_size`` and ``cache_dir``;
        - a torch ``Dataset`` whose items are images (uint8 (H, W, C) or
          (C, H, W), float (C, H, W) in [0, 1], or PIL images) or tuples whose
          first element is one; converted item by item and resized (bicubic)
          to ``image_size`` when it is given.
    y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
        Targets. Returned as tensors (float32 for floating targets, int64 for
        integer ones); when None every sample's target is ``torch.tensor(0)``,
        skorch's placeholder convention.
    image_size : int or (int, int), default=None
        Output size when ``X`` holds paths (required then) or, as an int, is a
        torch Dataset (None keeps each item's size); ignored for arrays.
    cache_dir : str or path-like, default=None
        Cache folder for decoding paths (see :func:`load_images`).
    scale : bool, default=False
        If False, uint8 images are returned as uint8 (normalisation is left to
        the model, e.g. on the GPU); if True, as float32 in [0, 1]. Float
        images are returned as float32 either way.
    transform : callable, default=None
        Applied to each image tensor (after ``scale``), e.g. a torchvision
        transform.
    n_jobs : int, default=None
        Parallel decoding jobs for paths (see :func:`load_images`).

    Attributes
    ----------
    images : numpy.ndarray or torch.utils.data.Dataset
        The uint8 (n, H, W, 3) or float (n, C, H, W) images, or the wrapped
        Dataset.
    targets : numpy.ndarray or None
        The targets.
    n_channels : int
        Channels of each returned image.

    Raises
    ------
    ValueError
        If ``X`` is none of the above (the message lists the accepted
        layouts), float images have NaN or values outside [0, 1] (the message
        names the rows), ``X`` holds no image, ``image_size`` is missing for paths,
        or ``y`` has a different length.

    See Also
    --------
    load_images : decode and cache image files as one uint8 array.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.datasets import ImageDataset
    >>> X = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    >>> ds = ImageDataset(X, y=np.array([0.5, 0.7, 0.9, 1.0]), scale=True)
    >>> len(ds)
    4
    >>> image, target = ds[1]
    >>> tuple(image.shape), image.dtype, round(float(target), 2)
    ((3, 8, 8), torch.float32, 0.7)
    """

    def __init__(
        self,
        X,
        y=None,
        *,
        image_size=None,
        cache_dir=None,
        scale=False,
        transform=None,
        n_jobs=None,
    ):
        if isinstance(X, ImageDataset):
            X = X.images
        if isinstance(X, _ItemImages):  # another ImageDataset's wrapped Dataset
            n_channels = X.n_channels
        elif isinstance(X, Dataset):
            X = _ItemImages(X, image_size)
            n_channels = X.n_channels
        else:
            if is_path_sequence(X):
                if image_size is None:
                    raise ValueError("image_size is required when X holds image paths")
                X = load_images(list(X), image_size, cache_dir=cache_dir, n_jobs=n_jobs)
            elif not isinstance(X, np.ndarray):
                X = np.asarray(X)
            n_channels = _check_array(X)
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(X):
                raise ValueError(f"X has {len(X)} images but y has {len(y)} targets")
        self.images = X
        self.targets = y
        self.scale = scale
        self.transform = transform
        self.n_channels = n_channels

    def with_targets(self, y):
        """The same images (not copied) with other targets.

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, n_targets) or None
            The new targets.

        Returns
        -------
        dataset : ImageDataset
            A new dataset sharing ``images`` with this one.
        """
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(self):
                raise ValueError(f"X has {len(self)} images but y has {len(y)} targets")
        new.targets = y
        return new

    def __getstate__(self):
        # DataLoader workers started with "spawn" pickle the dataset: a memory
        # map of a whole cache file travels as its file name, not as a copy of
        # every image.
        state = self.__dict__.copy()
        images = self.images
        if isinstance(images, np.memmap) and images.filename is not None:
            full = np.load(images.filename, mmap_mode="r")
            if full.shape == images.shape and full.offset == images.offset:
                state["images"] = _MemmapFile(str(images.filename))
        return state

    def __setstate__(self, state):
        if isinstance(state.get("images"), _MemmapFile):
            state["images"] = np.load(state["images"].path, mmap_mode="r")
        self.__dict__.update(state)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        images = self.images
        if isinstance(images, _ItemImages):
            image = images[index]
        elif images.dtype == np.uint8:
            # HWC -> CHW; the copy also detaches the sample from a read-only memmap.
            image = torch.from_numpy(np.ascontiguousarray(images[index].transpose(2, 0, 1)))
        else:
            image = torch.from_numpy(np.array(images[index], dtype=np.float32))
        if self.scale and image.dtype == torch.uint8:
            image = image.to(torch.float32).div_(255.0)
        if self.transform is not None:
            image = self.transform(image)
        if self.targets is None:
            return image, torch.tensor(0)
        target = self.targets[index]
        if np.issubdtype(self.targets.dtype, np.floating):
            return image, torch.as_tensor(target, dtype=torch.float32)
        return image, torch.as_tensor(target, dtype=torch.int64)


def _check_array(X):
    """Validate a uint8 (n, H, W, 3) or float (n, C, H, W) array; return its channels."""
    shape = getattr(X, "shape", None)
    if X.dtype == np.uint8 and X.ndim == 4 and X.shape[-1] == 3:
        n_channels = 3
    elif X.dtype == np.uint8 and X.ndim == 4 and X.shape[1] in (1, 3, 4):
        raise ValueError(
            f"X has shape {shape}, which looks like (n, C, H, W), but uint8 images are "
            f"read as (n, H, W, C). {ACCEPTED_LAYOUTS} Use X.transpose(0, 2, 3, 1)."
        )
    elif X.dtype.kind == "f" and X.ndim == 4:
        # (n, 32, 32, 3) would otherwise pass as 32 channels of 32 x 3 pixels.
        if X.shape[-1] in (1, 3, 4) and min(X.shape[1:3]) > 4:
            raise ValueError(
                f"X has shape {shape}, which looks like (n, H, W, C), but float images are "
                f"read as (n, C, H, W). {ACCEPTED_LAYOUTS} Use X.transpose(0, 3, 1, 2)."
            )
        check_float_range(X, "X")
        n_channels = int(X.shape[1])
    else:
        raise ValueError(
            "X must be a uint8 array of shape (n_samples, height, width, 3), a float array "
            "of shape (n_samples, channels, height, width) in [0, 1], a sequence of image "
            f"paths or a torch Dataset; got dtype {X.dtype} and shape {shape}"
        )
    if X.shape[0] == 0:
        raise ValueError("X holds no images (0 samples).")
    return n_channels


class _ItemImages:
    """Images of a user's torch Dataset as CHW tensors, converted item by item."""

    def __init__(self, dataset, size):
        self.dataset = dataset
        self.size = size
        if len(dataset) == 0:
            raise ValueError("X is an empty Dataset.")
        self.n_channels = int(self[0].shape[0])

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        item = self.dataset[i]
        if isinstance(item, (tuple, list)):
            item = item[0]
        if isinstance(item, Image.Image):
            # Read for what it shows: palette colours, 16-bit and float grey scaled.
            item = image_to_uint8(*pil_image_array(item, f"dataset item {i}"))
        if torch.is_tensor(item) and item.dtype != torch.uint8:
            x = item.float()
        elif isinstance(item, np.ndarray) and item.dtype.kind == "f":
            x = torch.from_numpy(np.asarray(item, dtype=np.float32))
        else:
            img = item.numpy() if torch.is_tensor(item) else np.asarray(item)
            if img.ndim == 3 and img.shape[-1] not in (1, 3, 4) and img.shape[0] in (1, 3, 4):
                img = img.transpose(1, 2, 0)  # uint8 CHW (e.g. an ImageDataset)
            if img.dtype != np.uint8:
                raise ValueError(
                    f"dataset item {i}: images must be uint8 or float, got {img.dtype}."
                )
            img = resize_uint8(rgb_uint8(img), self.size)
            return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        if x.ndim != 3:
            raise ValueError(
                f"dataset item {i}: float images must be (C, H, W), got {tuple(x.shape)}. "
                f"{ACCEPTED_LAYOUTS}"
            )
        check_float_range(x.numpy(), f"dataset item {i}", rows=False)
        size = self.size
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x[None], size=(size, size), mode="bicubic", antialias=True)[0]
            x = x.clamp_(0, 1)
        return x


class _MemmapFile:
    """Stand-in for a read-only memory map while pickled."""

    def __init__(self, path):
        self.path = path
