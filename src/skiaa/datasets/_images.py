"""Decode, resize and cache dermoscopic images once, as a uint8 array.

Every estimator of skiaa takes images as one ``(n, H, W, 3)`` uint8 array (in
memory or memory-mapped; "Data flow" in docs/development.rst): JPEG/PNG decoding
and the bicubic resize of the paper (224 x 224) happen here, once, and the
result can be cached on disk so that later epochs and later runs decode nothing.
"""

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from PIL import Image

from ..utils import (
    check_image_size,
    image_to_uint8,
    is_path,
    locked_temporary_file,
    open_image,
    progress,
    remove_stale_temporaries,
    writing,
)

# Bumped when the decoding recipe changes, so that old cache files are not reused
# (2: 16-bit and float images scaled by their type instead of saturated).
_CACHE_VERSION = 2
# Images decoded per joblib task: large enough to amortise the dispatch cost,
# small enough for a smooth progress bar.
_CHUNK = 32


def _stat_paths(paths):
    """Resolve every path, checking that it is a file.

    Missing files are reported all at once (the first few named), rather than
    after minutes of decoding.
    """
    resolved, missing = [], []
    for path in paths:
        path = Path(os.fspath(path)).expanduser()
        if not path.is_file():
            missing.append(str(path))
            continue
        resolved.append(str(path.resolve()))
    if missing:
        shown = ", ".join(repr(p) for p in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise FileNotFoundError(f"{len(missing)} image file(s) not found: {shown}{more}")
    return resolved


def _decode(path, size):
    """Decode one image file to an RGB uint8 array of shape ``(H, W, 3)``.

    :func:`skiaa.utils.open_image` reads what the file shows (palette images
    through their palette, 16-bit and float grey scaled by their type); grey
    is repeated to three channels and alpha dropped.
    """
    height, width = size
    array = image_to_uint8(*open_image(path))
    if array.shape[:2] != (height, width):
        img = Image.fromarray(array).resize((width, height), Image.Resampling.BICUBIC)
        array = np.asarray(img, dtype=np.uint8)
    return array


def _decode_chunk(paths, size, max_pixels):
    # A worker process starts with Pillow's default limit: the caller's applies.
    Image.MAX_IMAGE_PIXELS = max_pixels
    return np.stack([_decode(p, size) for p in paths]) if paths else None


def _decode_into(out, paths, size, n_jobs, verbose, rows=None):
    """Decode ``paths`` into ``out[rows]`` (``rows`` defaults to 0..len(paths)-1)."""
    rows = np.arange(len(paths)) if rows is None else np.asarray(rows)
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    max_pixels = Image.MAX_IMAGE_PIXELS
    results = parallel(delayed(_decode_chunk)(chunk, size, max_pixels) for chunk in chunks)
    bar = progress(None, verbose=verbose, desc="Decoding images", total=len(paths), unit="img")
    start = 0
    try:
        for block in results:
            out[rows[start : start + len(block)]] = block
            start += len(block)
            bar.update(len(block))
    finally:
        bar.close()


def _file_digest(path):
    """SHA-256 of a file's bytes (read in blocks: images can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _image_keys(resolved, size, n_jobs=None):
    """One key per image: what determines its decoded pixels.

    The key is the hash of the file's *content* (with the decoding recipe and
    the output size), not of its path and modification time: a file replaced by
    another of the same size and time (``cp -p``, ``rsync -t``, a restored
    backup) gets a new key, and a dataset moved elsewhere keeps its keys.
    Hashing reads every file once per call, far cheaper than decoding it.
    """
    # hashlib releases the GIL on large blocks: threads read files in parallel.
    digests = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_file_digest)(path) for path in resolved
    )
    keys = []
    for digest in digests:
        text = f"{_CACHE_VERSION}\0{size[0]}x{size[1]}\0{digest}"
        keys.append(hashlib.sha256(text.encode()).hexdigest()[:24])
    return keys


def _open_cache(array_file, n_rows, size):
    """Memory-map a cache file, or return None (with a warning) when it cannot be read.

    A truncated or otherwise damaged file (a disk filled up, a copy cut short)
    is a cache miss: the caller decodes the images again.
    """
    try:
        array = np.load(array_file, mmap_mode="r")
    except (OSError, ValueError, EOFError) as exc:
        reason = str(exc)
    else:
        if array.dtype == np.uint8 and array.shape == (n_rows, *size, 3):
            return array
        reason = f"holds an array of shape {array.shape} and dtype {array.dtype}"
    warnings.warn(
        f"image cache file {str(array_file)!r} cannot be read ({reason}); "
        "decoding its images again",
        UserWarning,
        stacklevel=3,
    )
    return None


def _cache_key(keys):
    """Key of a list of images: the hash of its per-image keys, in order."""
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]


def _cached_rows(cache_dir, size, wanted):
    """Map image key -> (cache file, row) over earlier cache files of this size.

    Each cache file has a JSON index of its images' keys beside it, so a new
    list (another split, a list with one changed file) copies the images that
    were already decoded instead of decoding them again.
    """
    found = {}
    for index_file in sorted(cache_dir.glob(f"images_{size[0]}x{size[1]}_*.json")):
        array_file = index_file.with_suffix(".npy")
        if not array_file.is_file():
            continue
        try:
            keys = json.loads(index_file.read_text())["keys"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged index only costs a re-decode
        if not isinstance(keys, list):
            continue
        for row, key in enumerate(keys):
            if key in wanted and key not in found:
                found[key] = (array_file, row, len(keys))
    return found


def _fill_from_cache(out, keys, cached, size):
    """Copy cached rows into ``out``; return the indices still to decode.

    Rows of a cache file that cannot be read are decoded instead.
    """
    by_file = {}
    for i, key in enumerate(keys):
        if key in cached:
            array_file, row, n_rows = cached[key]
            by_file.setdefault((array_file, n_rows), ([], []))
            by_file[array_file, n_rows][0].append(i)
            by_file[array_file, n_rows][1].append(row)
    done = np.zeros(len(keys), dtype=bool)
    for (array_file, n_rows), (dest, src) in by_file.items():
        source = _open_cache(array_file, n_rows, size)
        if source is None:
            continue
        try:
            rows = source[np.asarray(src)]
        except OSError as exc:  # a read error in the middle of the file
            warnings.warn(
                f"image cache file {str(array_file)!r} cannot be read ({exc}); "
                "decoding its images again",
                UserWarning,
                stacklevel=2,
            )
            continue
        out[np.asarray(dest)] = rows  # a write error (a full disk) is not a cache miss
        done[dest] = True
    return [i for i in range(len(keys)) if not done[i]]


def image_cache_path(paths, image_size, cache_dir):
    """Return the cache file that :func:`load_images` uses for these arguments.

    Parameters
    ----------
    paths : sequence of str or path-like
        Image files, in order.
    image_size : int or (int, int)
        Output size, as in :func:`load_images`.
    cache_dir : str or path-like
        Cache folder.

    Returns
    -------
    path : pathlib.Path
        ``cache_dir / "images_<H>x<W>_<n>_<hash>.npy"``; the hash covers the
        content (the bytes) of every file, in order, and ``image_size``. The file may
        not exist yet.

    Raises
    ------
    FileNotFoundError
        If an image file does not exist (naming it).

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skiaa.datasets import image_cache_path
    >>> Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save("c.png")
    >>> image_cache_path(["c.png"], 4, "cache").name.startswith("images_4x4_1_")
    True
    """
    height, width = check_image_size(image_size)
    resolved = _stat_paths(list(paths))
    key = _cache_key(_image_keys(resolved, (height, width)))
    return Path(cache_dir) / f"images_{height}x{width}_{len(resolved)}_{key}.npy"


def load_images(paths, image_size, *, cache_dir=None, n_jobs=None, verbose=0):
    """Decode image files to RGB, resize them (bicubic) and stack them as uint8.

    Parameters
    ----------
    paths : sequence of str or path-like
        Image files (anything Pillow reads: JPEG, PNG, BMP, TIFF, ...), read
        for what they show: palette images through their palette, 16-bit grey
        scaled by 65535 and float grey (values in [0, 1]) by 1 to 0-255, grey
        repeated to RGB, alpha dropped.
    image_size : int or (int, int)
        Output size: ``image_size`` x ``image_size``, or ``(height, width)``. The paper
        resizes to 224 x 224 with bicubic interpolation; images
        already at that size are not resampled.
    cache_dir : str or path-like, default=None
        Folder for a cache file. When given, the decoded array is written once
        to ``cache_dir/images_<H>x<W>_<n>_<hash>.npy`` (see
        :func:`image_cache_path`) and later calls with files of the same
        content, in the same order, and the same ``image_size`` memory-map it instead of
        decoding. The cache is keyed on each file's bytes, not on its path or
        modification time: a changed file is decoded again even when its size
        and time were kept, and a moved dataset is still found. A cache file
        that cannot be read (truncated, damaged) is a miss: a warning names it
        and the images are decoded again. The folder is created if needed.
    n_jobs : int, default=None
        Number of parallel decoding jobs (joblib semantics: None means 1 unless
        in a :func:`joblib.parallel_config` context, -1 means all CPUs).
    verbose : int, default=0
        Show a progress bar while decoding when > 0.

    Returns
    -------
    images : numpy.ndarray of shape (n_images, height, width, 3), dtype uint8
        In memory without ``cache_dir``; a read-only :class:`numpy.memmap` of
        the cache file with it (no copy of the dataset is made in memory).

    Raises
    ------
    FileNotFoundError
        If an image file does not exist (the message names it).
    ValueError
        If a file cannot be decoded as an image, its mode is not understood
        (a 32-bit integer TIFF, a float image outside [0, 1]...), or it is over
        Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``,
        whose value in the calling process applies to the decoding workers);
        the message names the file. Also if ``paths`` is a single path or
        ``image_size`` is invalid.

    See Also
    --------
    ImageDataset : torch ``Dataset`` over paths or such an array.

    Notes
    -----
    The cache holds one array file per *list* of images (a different list,
    another split or order, gets its own file, so each call returns a single
    memory map), with a JSON index of per-image keys beside it. Building a new
    list's file copies every image already decoded in an earlier file of the
    same size and decodes only the others: changing one image file re-decodes
    that image alone, and the splits of a dataset decoded once cost no further
    decoding. Stale files are left in ``cache_dir`` for you to delete. Files are
    written to a temporary name and renamed, so an interrupted run never leaves
    a half-written cache behind.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skiaa.datasets import load_images
    >>> Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save("a.png")
    >>> Image.fromarray(np.zeros((30, 30), np.uint8)).save("b.png")  # greyscale
    >>> X = load_images(["a.png", "b.png"], 32)
    >>> X.shape, X.dtype
    ((2, 32, 32, 3), dtype('uint8'))
    >>> X2 = load_images(["a.png", "b.png"], (16, 24), cache_dir="cache")
    >>> type(X2).__name__, X2.shape, X2.flags.writeable
    ('memmap', (2, 16, 24, 3), False)
    """
    size = check_image_size(image_size)
    if is_path(paths):
        raise ValueError("paths must be a sequence of file paths, not a single path")
    resolved = _stat_paths(list(paths))
    n = len(resolved)

    if cache_dir is None or n == 0:
        images = np.empty((n, *size, 3), dtype=np.uint8)
        _decode_into(images, resolved, size, n_jobs, verbose)
        return images

    cache_dir = Path(cache_dir)
    with writing("the image cache folder", cache_dir):
        cache_dir.mkdir(parents=True, exist_ok=True)
    # Cache files of writers that were killed (SIGKILL, a full disk in
    # versions that wrote through a memory map); live writers' are locked.
    remove_stale_temporaries(cache_dir, "images_*")
    keys = _image_keys(resolved, size, n_jobs)
    target = cache_dir / f"images_{size[0]}x{size[1]}_{n}_{_cache_key(keys)}.npy"
    if target.is_file():
        images = _open_cache(target, n, size)
        if images is not None:
            return images
        # Unreadable: its index must not offer its rows to the rebuild below.
        target.with_suffix(".json").unlink(missing_ok=True)
    _build_cache(target, resolved, keys, size, n_jobs, verbose)
    return np.load(target, mmap_mode="r")


class _RowWriter:
    """Write rows of a ``.npy`` file being built, with ordinary I/O (``os.pwrite``).

    Not a memory map: writing a memory-mapped file whose blocks the disk
    cannot supply kills the process with SIGBUS, where ``pwrite`` raises
    ``OSError`` (ENOSPC) and lets the caller clean up and say what happened.
    """

    def __init__(self, fd, offset, row_shape):
        self.fd, self.offset = fd, offset
        self.row_nbytes = int(np.prod(row_shape))

    def __setitem__(self, rows, block):
        block = np.ascontiguousarray(block, dtype=np.uint8)
        for row, values in zip(np.atleast_1d(rows), block):
            data = memoryview(values.tobytes())
            position = self.offset + int(row) * self.row_nbytes
            while data:  # a short write is followed by one that raises
                written = os.pwrite(self.fd, data, position)
                data, position = data[written:], position + written


def _build_cache(target, resolved, keys, size, n_jobs, verbose):
    cache_dir = target.parent
    shape = (len(resolved), *size, 3)
    # Locked while written: remove_stale_temporaries leaves it alone.
    tmp, fd = locked_temporary_file(target)  # mode from the umask, as a directly written file
    index_tmp = index_fd = None
    try:
        with writing(f"the image cache file {target.name}", cache_dir):
            with os.fdopen(os.dup(fd), "wb") as f:
                header = {"descr": np.dtype(np.uint8).str, "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(f, header)
                offset = f.tell()
            rows = _RowWriter(fd, offset, shape[1:])
            todo = _fill_from_cache(rows, keys, _cached_rows(cache_dir, size, set(keys)), size)
            _decode_into(rows, [resolved[i] for i in todo], size, n_jobs, verbose, rows=todo)
            os.replace(tmp, target)
            # The index goes last: an array without one is valid, merely not reused.
            index_tmp, index_fd = locked_temporary_file(target.with_suffix(".json"))
            with os.fdopen(os.dup(index_fd), "w", encoding="utf-8") as f:
                f.write(json.dumps({"size": list(size), "keys": keys}))
            os.replace(index_tmp, target.with_suffix(".json"))
    except BaseException:
        tmp.unlink(missing_ok=True)
        if index_tmp is not None:
            index_tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
        if index_fd is not None:
            os.close(index_fd)
