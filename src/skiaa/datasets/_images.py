"""Decode, resize and cache dermoscopic images once, as a uint8 array.

Every estimator of skiaa takes images as one ``(n, H, W, 3)`` uint8 array (in
memory or memory-mapped; "Data flow" in docs/development.rst): JPEG/PNG decoding
and the bicubic resize of the paper (224 x 224) happen here, once, and the
result can be cached on disk so that later epochs and later runs decode nothing.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from PIL import Image, UnidentifiedImageError

from ..utils import check_image_size, is_path, progress

# Bumped when the decoding recipe changes, so that old cache files are not reused.
_CACHE_VERSION = 1
# Images decoded per joblib task: large enough to amortise the dispatch cost,
# small enough for a smooth progress bar.
_CHUNK = 32


def _stat_paths(paths):
    """Resolve every path and read its modification time and size.

    Missing files are reported all at once (the first few named), rather than
    after minutes of decoding.
    """
    resolved, stats, missing = [], [], []
    for path in paths:
        path = Path(os.fspath(path)).expanduser()
        try:
            st = path.stat()
        except OSError:
            missing.append(str(path))
            continue
        if not path.is_file():
            missing.append(str(path))
            continue
        resolved.append(str(path.resolve()))
        stats.append((st.st_mtime_ns, st.st_size))
    if missing:
        shown = ", ".join(repr(p) for p in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise FileNotFoundError(f"{len(missing)} image file(s) not found: {shown}{more}")
    return resolved, stats


def _decode(path, size):
    """Decode one image file to an RGB uint8 array of shape ``(H, W, 3)``."""
    height, width = size
    try:
        with Image.open(path) as img:
            # convert("RGB") drops alpha and expands grey/palette/CMYK images,
            # so that every image has three channels.
            img = img.convert("RGB")
            if img.size != (width, height):
                img = img.resize((width, height), Image.Resampling.BICUBIC)
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # PIL reports truncated or corrupt files with OSError/SyntaxError.
        raise ValueError(f"cannot decode image file {path!r}: {exc}") from exc


def _decode_chunk(paths, size):
    return np.stack([_decode(p, size) for p in paths]) if paths else None


def _decode_into(out, paths, size, n_jobs, verbose, rows=None):
    """Decode ``paths`` into ``out[rows]`` (``rows`` defaults to 0..len(paths)-1)."""
    rows = np.arange(len(paths)) if rows is None else np.asarray(rows)
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    results = parallel(delayed(_decode_chunk)(chunk, size) for chunk in chunks)
    bar = progress(None, verbose=verbose, desc="Decoding images", total=len(paths), unit="img")
    start = 0
    try:
        for block in results:
            out[rows[start : start + len(block)]] = block
            start += len(block)
            bar.update(len(block))
    finally:
        bar.close()


def _image_keys(resolved, stats, size):
    """One key per image: what determines its decoded pixels."""
    keys = []
    for path, (mtime_ns, nbytes) in zip(resolved, stats):
        # A changed file changes its mtime or size, hence its key: it is re-decoded.
        text = f"{_CACHE_VERSION}\0{size[0]}x{size[1]}\0{path}\0{mtime_ns}\0{nbytes}"
        keys.append(hashlib.sha256(text.encode()).hexdigest()[:24])
    return keys


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
        for row, key in enumerate(keys):
            if key in wanted and key not in found:
                found[key] = (array_file, row)
    return found


def _fill_from_cache(out, keys, cached):
    """Copy cached rows into ``out``; return the indices still to decode."""
    by_file = {}
    for i, key in enumerate(keys):
        if key in cached:
            array_file, row = cached[key]
            by_file.setdefault(array_file, ([], []))
            by_file[array_file][0].append(i)
            by_file[array_file][1].append(row)
    for array_file, (dest, src) in by_file.items():
        source = np.load(array_file, mmap_mode="r")
        out[np.asarray(dest)] = source[np.asarray(src)]
    return [i for i, key in enumerate(keys) if key not in cached]


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
        ``cache_dir / "images_<H>x<W>_<n>_<hash>.npy"``; the hash covers every
        resolved path, its modification time and byte size, and ``image_size``. The
        file may not exist yet.

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
    resolved, stats = _stat_paths(list(paths))
    key = _cache_key(_image_keys(resolved, stats, (height, width)))
    return Path(cache_dir) / f"images_{height}x{width}_{len(resolved)}_{key}.npy"


def load_images(paths, image_size, *, cache_dir=None, n_jobs=None, verbose=0):
    """Decode image files to RGB, resize them (bicubic) and stack them as uint8.

    Parameters
    ----------
    paths : sequence of str or path-like
        Image files (anything Pillow reads: JPEG, PNG, BMP, TIFF, ...).
    image_size : int or (int, int)
        Output size: ``image_size`` x ``image_size``, or ``(height, width)``. The paper
        resizes to 224 x 224 with bicubic interpolation; images
        already at that size are not resampled.
    cache_dir : str or path-like, default=None
        Folder for a cache file. When given, the decoded array is written once
        to ``cache_dir/images_<H>x<W>_<n>_<hash>.npy`` (see
        :func:`image_cache_path`) and later calls with the same paths, image_size and
        unchanged files memory-map it instead of decoding. A file whose
        modification time or byte size changed gets a new key, so it is decoded
        again. The folder is created if needed.
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
        If a file cannot be decoded as an image (the message names it),
        ``paths`` is a single path, or ``image_size`` is invalid.

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
    resolved, stats = _stat_paths(list(paths))
    n = len(resolved)

    if cache_dir is None or n == 0:
        images = np.empty((n, *size, 3), dtype=np.uint8)
        _decode_into(images, resolved, size, n_jobs, verbose)
        return images

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    keys = _image_keys(resolved, stats, size)
    target = cache_dir / f"images_{size[0]}x{size[1]}_{n}_{_cache_key(keys)}.npy"
    if not target.is_file():
        _build_cache(target, resolved, keys, size, n_jobs, verbose)
    return np.load(target, mmap_mode="r")


def _build_cache(target, resolved, keys, size, n_jobs, verbose):
    cache_dir = target.parent
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp_", suffix=".npy")
    os.close(fd)
    try:
        # Written straight into the memory-mapped file: no in-memory copy of
        # the whole dataset, even for large image sets.
        out = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.uint8, shape=(len(resolved), *size, 3)
        )
        todo = _fill_from_cache(out, keys, _cached_rows(cache_dir, size, set(keys)))
        _decode_into(out, [resolved[i] for i in todo], size, n_jobs, verbose, rows=todo)
        out.flush()
        del out
        os.replace(tmp, target)
        # The index goes last: an array without one is valid, merely not reused.
        index_tmp = Path(tmp).with_suffix(".json")
        index_tmp.write_text(json.dumps({"size": list(size), "keys": keys}))
        os.replace(index_tmp, target.with_suffix(".json"))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        Path(tmp).with_suffix(".json").unlink(missing_ok=True)
        raise
