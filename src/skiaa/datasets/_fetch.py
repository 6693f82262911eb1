"""Download the IMA++ release: tables and masks from Zenodo, images from the ISIC Archive.

Plain HTTP through :mod:`urllib.request`: a record listing and a few thousand
file downloads need no client library, and the standard library keeps this
layer free of dependencies. Every file is checked before it is kept (Zenodo's
MD5, the pinned MD5 of a table, the ISIC Archive's byte count), downloads go
to a ``.part`` file that the next run continues with an HTTP ``Range``
request, and files verified once are remembered (by size and modification
time) in ``.skiaa-fetch.json`` so that a rerun skips them without reading them
again.
"""

import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from http.client import HTTPException
from pathlib import Path

from sklearn.utils import Bunch

from .._version import __version__
from ..utils import OutputFolder, progress, temporary_file
from ._imaplusplus import IMAPLUSPLUS_FOLDERS, IMAPLUSPLUS_TABLES, load_imaplusplus

#: Zenodo record of the IMA++ release (DOI 10.5281/zenodo.14201692).
IMAPLUSPLUS_RECORD = "14201692"

# Default base URLs of the three hosts, each overridable by an environment
# variable (and by a parameter of fetch_imaplusplus).
_URLS = {
    "zenodo": ("SKIAA_ZENODO_API", "https://zenodo.org/api"),
    "isic": ("SKIAA_ISIC_API", "https://api.isic-archive.com/api/v2"),
    "github": ("SKIAA_GITHUB_RAW", "https://raw.githubusercontent.com"),
}

# The four tables as the authors published them in their GitHub repository
# (sfu-mial/IMAplusplus, folder output/), at commits known to hold them, with
# the MD5 and size of the files skiaa's reader and documented numbers are
# checked against. Used for a table the Zenodo record does not hold under the
# reader's file name.
_GITHUB_TABLES = {
    "metadata": (
        "742fc979f255c34870e8d7766282f07b1b8804ad",
        "output/metadata/IMAplusplus_img_metadata.csv",
        "c27fdbcaab1e2cae48d6ad7edd3d64c4",
        2925294,
    ),
    "masks": (
        "742fc979f255c34870e8d7766282f07b1b8804ad",
        "output/metadata/IMAplusplus_multiannotator_subset_seg_metadata.csv",
        "d8adefffa3ca1d7460aae5b7a5d1e661",
        1264684,
    ),
    "pairs": (
        "742fc979f255c34870e8d7766282f07b1b8804ad",
        "output/metadata/IMAplusplus_multiannotator_subset_IAA_metrics.csv",
        "45829e731ead30901580abe608238543",
        3926466,
    ),
    "image_metrics": (
        "a3a069f7623bc9e681b076bc955f803ddee34d3c",
        "output/metrics/IMAplusplus_multiannotator_subset_image_level_metrics.csv",
        "0bcf3c7d53ddb4f725400990c747381a",
        343617,
    ),
}
_GITHUB_REPO = "sfu-mial/IMAplusplus"


_STATE = ".skiaa-fetch.json"
_PART = ".part"
_CHUNK = 1 << 20
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# A busy server (rate limit, overload) is asked again after 1, 2, 4 s (or its
# Retry-After); other HTTP errors are answers, not retried.
_RETRY_STATUS = (429, 500, 502, 503, 504)
_RETRIES = 3
_BACKOFF = 1.0
# Network failures that mean "host not reachable" (no route, refused, DNS,
# timeout) rather than a bad answer from a reachable host.
_UNREACHABLE = (urllib.error.URLError, ConnectionError, TimeoutError)


class FetchError(OSError):
    """A file of a dataset could not be downloaded or did not verify.

    Its message is one line: what could not be reached or checked, and what is
    missing from the folder.
    """


class _Interrupted(Exception):
    """A transfer cut short; its ``.part`` file is kept for the next run."""


class _Mismatch(Exception):
    """A finished file whose size or MD5 is not the listed one; it was deleted."""


class _Failure(Exception):
    """One download that failed; collected, then reported in one line."""

    def __init__(self, name, reason, *, host=None):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason, self.host = name, reason, host


def _base_url(key, given):
    env, default = _URLS[key]
    return (given or os.environ.get(env) or default).rstrip("/")


def _host(url):
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reason(exc):
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def _request(url, headers=None):
    headers = {"User-Agent": f"skiaa/{__version__}", **(headers or {})}
    return urllib.request.Request(url, headers=headers)


def _open(request, timeout):
    """``urlopen`` that waits and retries while a server says it is busy (429, 5xx)."""
    for attempt in range(_RETRIES + 1):
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code not in _RETRY_STATUS or attempt == _RETRIES:
                raise
            after = exc.headers.get("Retry-After", "") if exc.headers else ""
            exc.close()
            wait = float(after) if after.isdigit() else _BACKOFF * 2**attempt
            time.sleep(min(wait, 60.0))


def _get_json(url, timeout):
    with _open(_request(url, {"Accept": "application/json"}), timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _safe_name(name, what):
    """A plain file name from a server's listing; never a path out of the folder."""
    plain = isinstance(name, str) and name not in ("", ".", "..")
    if not plain or any(c in name for c in "/\\\x00"):
        raise FetchError(f"{what}: refusing the file name {name!r} (not a plain file name)")
    return name


class _State:
    """What earlier runs verified, so that a rerun skips it without rereading it."""

    def __init__(self, root):
        self.path = root / _STATE
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self.data = data if isinstance(data, dict) else {}
        for key in ("verified", "images", "extracted"):
            self.data.setdefault(key, {})

    def _key(self, path):
        return Path(path).relative_to(self.path.parent).as_posix()

    def is_verified(self, path, md5=None, size=None):
        """Whether ``path`` was verified (as ``md5``/``size``) and is unchanged since."""
        seen = self.data["verified"].get(self._key(path))
        if not seen or not path.is_file():
            return False
        stat = path.stat()
        return (
            seen.get("size") == stat.st_size
            and seen.get("mtime_ns") == stat.st_mtime_ns
            and (md5 is None or seen.get("md5") == md5)
            and (size is None or stat.st_size == size)
        )

    def mark(self, path, md5=None):
        stat = path.stat()
        self.data["verified"][self._key(path)] = dict(
            size=stat.st_size, mtime_ns=stat.st_mtime_ns, md5=md5
        )

    def save(self):
        tmp = temporary_file(self.path)
        try:
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)


def _download(url, target, *, md5=None, size=None, timeout=60, bar=None):
    """Download ``url`` to ``target`` through ``target.part``, continuing a partial one.

    The finished file is checked against ``md5`` and/or ``size``; on a
    mismatch the bad bytes are deleted and ``_Mismatch`` says how they
    differ. A transfer cut short raises ``_Interrupted`` and keeps its
    ``.part`` file for the next call.
    """
    part = target.with_name(target.name + _PART)
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if not (size is not None and have == size):
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            response = _open(_request(url, headers), timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not have:
                raise
            # The server has nothing past what we hold: restart from zero.
            part.unlink()
            return _download(url, target, md5=md5, size=size, timeout=timeout, bar=bar)
        with response:
            if have and response.status != 206:
                have = 0  # the server ignored the range: start again
            length = response.headers.get("Content-Length")
            expected = have + int(length) if length is not None else size
            if bar is not None and have:
                bar.update(have)
            with open(part, "ab" if have else "wb") as handle:
                while True:
                    try:
                        # read1: what has arrived, so that an interrupted
                        # transfer keeps every byte it received.
                        block = response.read1(_CHUNK)
                    except (TimeoutError, HTTPException, ConnectionError) as exc:
                        got = part.stat().st_size
                        of = f" of {expected}" if expected is not None else ""
                        raise _Interrupted(
                            f"transfer interrupted after {got}{of} bytes ({type(exc).__name__})"
                        ) from exc
                    if not block:
                        break
                    handle.write(block)
                    # On disk at once: a run killed mid-transfer resumes from here.
                    handle.flush()
                    if bar is not None:
                        bar.update(len(block))
        got = part.stat().st_size
        if expected is not None and got < expected:
            raise _Interrupted(f"transfer interrupted after {got} of {expected} bytes")
    got = part.stat().st_size
    problem = None
    if size is not None and got != size:
        problem = f"{got} bytes where the listing says {size}"
    elif md5 is not None and (found := _md5(part)) != md5:
        problem = f"MD5 {found} differs from the listed {md5}"
    if problem:
        part.unlink()
        raise _Mismatch(f"{problem}; the file was deleted")
    os.replace(part, target)
    return target


def _zenodo_files(record_json, what):
    """``[(name, url, md5, size)]`` of a Zenodo record's JSON (legacy or InvenioRDM layout)."""
    files = record_json.get("files")
    if isinstance(files, dict):  # InvenioRDM: {"entries": {name: {...}}}
        files = list((files.get("entries") or {}).values())
    if not isinstance(files, list) or not files:
        raise FetchError(f"{what}: the record lists no files")
    listed = []
    for entry in files:
        name = _safe_name(entry.get("key", entry.get("filename")), what)
        links = entry.get("links") or {}
        # "content" is the bytes where a listing also has a metadata "self"
        # (InvenioRDM); the legacy listing's "self" is the bytes.
        url = links.get("content") or links.get("download") or links.get("self")
        checksum = str(entry.get("checksum") or "")
        algo, _, value = checksum.lower().partition(":")
        if algo != "md5" or not re.fullmatch(r"[0-9a-f]{32}", value):
            raise FetchError(f"{what}: {name} has no MD5 checksum in the listing ({checksum!r})")
        size = entry.get("size", entry.get("filesize"))
        listed.append((name, url, value, None if size is None else int(size)))
    return listed


def _zenodo_listing(base, record, timeout):
    """Fetch a record's file list; a concept id (all versions) gives its latest version."""
    url = f"{base}/records/{record}"
    try:
        data = _get_json(url, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code not in (404, 410):
            raise
        url = f"{base}/records/{record}/versions/latest"
        data = _get_json(url, timeout)
    what = f"Zenodo record {record} ({url})"
    files = _zenodo_files(data, what)
    record_id = str(data.get("id", record))
    files = [
        (n, u or f"{base}/records/{record_id}/files/{n}/content", m, s) for n, u, m, s in files
    ]
    return dict(url=url, record=record_id, files=files)


def _extract(archive, dest_root, what):
    """Extract ``archive`` into ``dest_root / <archive stem>`` as a whole (temporary, rename)."""
    dest = dest_root / Path(archive).stem
    dest_root.mkdir(parents=True, exist_ok=True)
    tmp = dest_root / f".{dest.name}.extracting"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            parts = Path(member.filename).parts
            if member.filename.startswith(("/", "\\")) or ".." in parts or ":" in member.filename:
                raise FetchError(
                    f"{what}: refusing the member {member.filename!r} (outside the folder)"
                )
        zf.extractall(tmp)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest


def _image_target(folder, isic_id, url):
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    return folder / f"{isic_id}{suffix if suffix in _IMAGE_SUFFIXES else '.jpg'}"


def fetch_imaplusplus(
    directory,
    *,
    images=True,
    record=IMAPLUSPLUS_RECORD,
    zenodo_url=None,
    isic_url=None,
    github_url=None,
    n_jobs=4,
    timeout=60.0,
    wait=False,
    verbose=1,
):
    """Download the IMA++ release into one folder that :func:`load_imaplusplus` reads.

    The tables and the masks come from the release's Zenodo record, the images
    from the ISIC Archive (by the ISIC ids of the multi-annotator subset, read
    from the tables). Every file is verified; a rerun skips what is already
    there and verified, and continues interrupted downloads.

    Parameters
    ----------
    directory : str or path-like
        Folder to fill (created if needed). It receives every file of the
        Zenodo record, the four tables named as ``IMAPLUSPLUS_TABLES`` says,
        each ZIP archive of the record extracted under ``masks/<archive
        name>/``, the images under ``images/``, and ``.skiaa-fetch.json``,
        the record of what was verified.
    images : bool, default=True
        Whether to download the 2,394 images too; False fetches the tables and
        masks only (enough for the agreement and statistics steps).
    record : str, default="14201692"
        Zenodo record id (or concept id, whose latest version is fetched).
    zenodo_url : str, default=None
        Base URL of Zenodo's REST API; None means the environment variable
        ``SKIAA_ZENODO_API`` or ``https://zenodo.org/api``.
    isic_url : str, default=None
        Base URL of the ISIC Archive API v2 (``images/<isic_id>/`` is asked
        for each image's file); None means ``SKIAA_ISIC_API`` or
        ``https://api.isic-archive.com/api/v2``.
    github_url : str, default=None
        Base URL of raw GitHub files, for a table the Zenodo record does not
        hold under the reader's file name: the authors' published table at a
        pinned commit, checked against a pinned MD5. None means
        ``SKIAA_GITHUB_RAW`` or ``https://raw.githubusercontent.com``.
    n_jobs : int, default=4
        Images downloaded at once (-1: one per CPU core).
    timeout : float, default=60.0
        Seconds to wait for a server before giving up on a request.
    wait : bool, default=False
        When another fetch is filling ``directory`` (it holds the folder's
        lock): wait for it to end instead of failing.
    verbose : int, default=1
        0: silent; 1: progress bars on stderr.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``root`` (the tables' folder), ``images`` and ``masks`` (folders, or
        None when not fetched), ``record`` (the Zenodo record id fetched),
        ``downloaded`` and ``skipped`` (counts of files).

    Raises
    ------
    FetchError
        In one line, after everything reachable was fetched: a host that
        could not be reached, a transfer cut short (its ``.part`` file is kept
        for the next run), or a file whose MD5 or size does not match (the
        file is deleted), and what is missing from ``directory``; or at once
        when a file cannot be written there (a full disk).
    skiaa.utils.OutputFolderError
        If another fetch holds ``directory`` and ``wait`` is False, or the
        folder cannot be created or locked.

    See Also
    --------
    load_imaplusplus : read the folder this fills.

    Notes
    -----
    The listing of the record and of each image is asked for on every run (a
    new version of the record is noticed); when Zenodo cannot be reached, the
    listing saved by the previous run is used to check the files already
    there, so a complete folder verifies offline.
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive int or -1, got {n_jobs!r}")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    root = Path(directory)
    bases = {
        key: _base_url(key, given)
        for key, given in [("zenodo", zenodo_url), ("isic", isic_url), ("github", github_url)]
    }

    def on_wait(line):
        if verbose:
            print(f"fetch_imaplusplus: {line}", file=sys.stderr, flush=True)

    # One fetch at a time in a folder: two would write the same .part files.
    # Only the lock of OutputFolder applies (no names: nothing is committed
    # as a set; every file is verified and kept on its own).
    with OutputFolder(root, (), force=True, wait=wait, option="folder", on_wait=on_wait):
        run = _Run(root, timeout=timeout, verbose=verbose)
        try:
            listing = run.fill(bases, record, images=images, n_jobs=n_jobs)
        finally:
            run.state.save()
    if run.missing or run.failures:
        raise FetchError(run.summary())
    masks_root = root / IMAPLUSPLUS_FOLDERS["masks"]
    return Bunch(
        root=root,
        images=root / IMAPLUSPLUS_FOLDERS["images"] if images else None,
        masks=masks_root if masks_root.is_dir() else None,
        record=listing["record"],
        downloaded=run.downloaded,
        skipped=run.skipped,
    )


class _Run:
    """One call of :func:`fetch_imaplusplus`: its state, counts and failures."""

    def __init__(self, root, *, timeout, verbose):
        self.root, self.timeout, self.verbose = root, timeout, verbose
        self.state = _State(root)
        self.failures, self.missing = [], []
        self.downloaded = self.skipped = 0
        self._lock = threading.Lock()  # image downloads run in threads
        # Failures of hosts that could not be reached but whose files were all
        # there (an offline rerun of a complete folder) are not errors.
        self.quiet_failures = []

    def fill(self, bases, record, *, images, n_jobs):
        """The four steps; return the Zenodo listing used."""
        root, state = self.root, self.state
        # 1. The Zenodo record: its listing (or the one saved by the last run), then each file.
        listing = None
        try:
            listing = _zenodo_listing(bases["zenodo"], record, self.timeout)
            state.data["zenodo"] = listing
        except urllib.error.HTTPError as exc:
            self.fail(f"Zenodo record {record}", f"{_reason(exc)} from {exc.filename}")
        except _UNREACHABLE as exc:
            url = f"{bases['zenodo']}/records/{record}"
            self.fail(f"Zenodo record {record}", _reason(exc), host=_host(url), missing=False)
            listing = state.data.get("zenodo")
        if listing is None:
            # Without the record's list, which tables it holds is unknown: stop here.
            self.missing.append(f"the files of Zenodo record {record}")
            raise FetchError(self.summary())
        files = [tuple(f) for f in listing["files"]]
        for name, url, md5, size in files:
            self.get(name, url, root / name, md5=md5, size=size)

        # 2. The tables the reader needs that the record does not hold by name.
        names = {f[0] for f in files}
        for key, file_name in IMAPLUSPLUS_TABLES.items():
            if file_name not in names:
                commit, path, md5, size = _GITHUB_TABLES[key]
                url = f"{bases['github']}/{_GITHUB_REPO}/{commit}/{path}"
                self.get(file_name, url, root / file_name, md5=md5, size=size)

        # 3. Every archive of the record, extracted under masks/.
        masks_root = root / IMAPLUSPLUS_FOLDERS["masks"]
        extracted = state.data["extracted"]
        for name, _, md5, _ in files:
            archive = root / name
            if not (name.lower().endswith(".zip") and state.is_verified(archive, md5)):
                continue
            if extracted.get(name) != md5 or not (masks_root / archive.stem).is_dir():
                _extract(archive, masks_root, f"Zenodo file {name}")
                extracted[name] = md5
        state.save()

        # 4. The images of the multi-annotator subset, from the ISIC Archive.
        if images:
            if all((root / n).is_file() for n in IMAPLUSPLUS_TABLES.values()):
                ids = list(load_imaplusplus(root)["image_id"])
                folder = root / IMAPLUSPLUS_FOLDERS["images"]
                self.images(ids, folder, bases["isic"], n_jobs=n_jobs)
            else:
                self.missing.append("the images (their ids come from the tables)")
        return listing

    def fail(self, name, reason, *, host=None, missing=True):
        with self._lock:
            (self.failures if missing else self.quiet_failures).append(
                _Failure(name, reason, host=host)
            )

    def count(self, what):
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)

    def get(self, name, url, target, *, md5=None, size=None, bar=True):
        """Verify or download one file; record a failure instead of raising."""
        if self.state.is_verified(target, md5, size) or (
            target.is_file()
            and (size is None or target.stat().st_size == size)
            and (md5 is None or _md5(target) == md5)
        ):
            self.state.mark(target, md5)
            self.count("skipped")
            return True
        # A file that is not the listed one (an older version, a damaged copy)
        # is not left for a reader to take as the release.
        target.unlink(missing_ok=True)
        show = progress(
            verbose=self.verbose and bar, desc=name, total=size, unit="B", unit_scale=True
        )
        try:
            _download(url, target, md5=md5, size=size, timeout=self.timeout, bar=show)
        except urllib.error.HTTPError as exc:
            self.fail(name, f"{_reason(exc)} from {url}")
        except _UNREACHABLE as exc:
            self.fail(name, _reason(exc), host=_host(url))
        except (_Interrupted, _Mismatch) as exc:
            self.fail(name, str(exc))
        except OSError as exc:
            # The local side (a full disk, a folder in the way): every other
            # file would fail alike, so stop here; what arrived is kept.
            raise FetchError(
                f"could not write {target.with_name(target.name + _PART)}: "
                f"{exc.strerror or exc}; what was verified is kept, rerun to continue"
            ) from exc
        else:
            self.state.mark(target, md5)
            self.count("downloaded")
            return True
        finally:
            show.close()
        with self._lock:
            self.missing.append(name)
        return False

    def images(self, ids, folder, base, *, n_jobs):
        """Each image: its file's URL and size from ``images/<id>/``, then the file."""
        folder.mkdir(parents=True, exist_ok=True)
        known = self.state.data["images"]
        todo = []
        for isic_id in ids:
            seen = known.get(isic_id)
            if seen and self.state.is_verified(folder / seen["file"], size=seen.get("size")):
                self.count("skipped")
            else:
                todo.append(isic_id)

        def one(isic_id):
            url = f"{base}/images/{urllib.parse.quote(isic_id)}/"
            try:
                detail = _get_json(url, self.timeout)
            except urllib.error.HTTPError as exc:
                self.fail(isic_id, f"{_reason(exc)} from {url}")
            except _UNREACHABLE as exc:
                self.fail(isic_id, _reason(exc), host=_host(url))
            else:
                full = (detail.get("files") or {}).get("full") or {}
                if not full.get("url"):
                    self.fail(isic_id, f"no full-size file listed at {url}")
                else:
                    size = full.get("size")
                    size = None if size is None else int(size)
                    target = _image_target(folder, isic_id, full["url"])
                    if self.get(target.name, full["url"], target, size=size, bar=False):
                        known[isic_id] = dict(file=target.name, size=target.stat().st_size)
                    return
            with self._lock:
                self.missing.append(isic_id)

        show = progress(verbose=self.verbose, desc="ISIC images", total=len(ids), unit="image")
        show.update(len(ids) - len(todo))
        pool = ThreadPoolExecutor(max_workers=n_jobs)
        try:
            for future in as_completed([pool.submit(one, i) for i in todo]):
                future.result()
                show.update(1)
        finally:
            # On Ctrl-C, images not started are dropped; those in flight keep
            # their .part files for the next run.
            pool.shutdown(wait=False, cancel_futures=True)
            show.close()

    def summary(self):
        """One line: what could not be reached or verified, and what is missing."""
        failures = self.failures + (self.quiet_failures if self.missing else [])
        parts = []
        unreachable = [f for f in failures if f.host]
        if unreachable:
            hosts = ", ".join(sorted({f.host for f in unreachable}))
            parts.append(f"could not reach {hosts} ({unreachable[0].reason})")
        others = [f for f in failures if not f.host]
        if others:
            more = f" (and {len(others) - 3} more)" if len(others) > 3 else ""
            parts.append("; ".join(str(f) for f in others[:3]) + more)
        names = list(dict.fromkeys(self.missing))
        if names:
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            parts.append(f"missing from {self.root}: {', '.join(names[:5])}{more}")
        return "; ".join(parts) + "; rerun to continue"
