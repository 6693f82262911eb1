"""A torch ``Dataset`` over image files or a uint8 image array.

Kept out of :mod:`skiaa.datasets`' eager imports (loaded lazily on first access)
so that reading tables and computing statistics never imports torch.
"""

import numpy as np
import torch
from torch.utils.data import Dataset

from ..utils import is_path_sequence
from ._images import load_images


class ImageDataset(Dataset):
    """Images (and optional targets) as a torch ``Dataset`` of CHW tensors.

    Parameters
    ----------
    X : array-like of shape (n_samples, height, width, 3), dtype uint8, or sequence of paths
        Images: an array as returned by :func:`load_images` (in memory or
        memory-mapped; it is not copied), or image file paths, decoded once
        through :func:`load_images` with ``image_size`` and ``cache_dir``.
    y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
        Targets. Returned as tensors (float32 for floating targets, int64 for
        integer ones); when None every sample's target is ``torch.tensor(0)``,
        skorch's placeholder convention.
    image_size : int or (int, int), default=None
        Output size when ``X`` holds paths (required then); ignored for arrays.
    cache_dir : str or path-like, default=None
        Cache folder for decoding paths (see :func:`load_images`).
    scale : bool, default=False
        If False, images are returned as uint8 (normalisation is left to the
        model, e.g. on the GPU); if True, as float32 in [0, 1].
    transform : callable, default=None
        Applied to each image tensor (after ``scale``), e.g. a torchvision
        transform.
    n_jobs : int, default=None
        Parallel decoding jobs for paths (see :func:`load_images`).

    Attributes
    ----------
    images : numpy.ndarray of shape (n_samples, height, width, 3)
        The uint8 images.
    targets : numpy.ndarray or None
        The targets.

    Raises
    ------
    ValueError
        If ``X`` is not a uint8 ``(n, H, W, 3)`` array nor a list of paths,
        ``size`` is missing for paths, or ``y`` has a different length.

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
        if is_path_sequence(X):
            if image_size is None:
                raise ValueError("image_size is required when X holds image paths")
            X = load_images(list(X), image_size, cache_dir=cache_dir, n_jobs=n_jobs)
        elif not isinstance(X, np.ndarray):
            X = np.asarray(X)
        if X.ndim != 4 or X.shape[-1] != 3 or X.dtype != np.uint8:
            raise ValueError(
                "X must be a uint8 array of shape (n_samples, height, width, 3) or a "
                f"sequence of image paths; got dtype {X.dtype} and shape {X.shape}"
            )
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(X):
                raise ValueError(f"X has {len(X)} images but y has {len(y)} targets")
        self.images = X
        self.targets = y
        self.scale = scale
        self.transform = transform

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
        # HWC -> CHW; the copy also detaches the sample from a read-only memmap.
        image = torch.from_numpy(np.ascontiguousarray(self.images[index].transpose(2, 0, 1)))
        if self.scale:
            image = image.to(torch.float32).div_(255.0)
        if self.transform is not None:
            image = self.transform(image)
        if self.targets is None:
            return image, torch.tensor(0)
        target = self.targets[index]
        if np.issubdtype(self.targets.dtype, np.floating):
            return image, torch.as_tensor(target, dtype=torch.float32)
        return image, torch.as_tensor(target, dtype=torch.int64)


class _MemmapFile:
    """Stand-in for a read-only memory map while pickled."""

    def __init__(self, path):
        self.path = path
