"""``skiaa fetch imaplusplus``: against a fake Zenodo, ISIC Archive and GitHub on 127.0.0.1.

The fake serves the endpoints :func:`skiaa.datasets.fetch_imaplusplus` uses
(a Zenodo record listing with MD5 checksums, its files, the ISIC Archive's
``images/<id>/`` detail and image files, raw GitHub files), with HTTP ``Range``
support, a switch that cuts a transfer short, and a log of every request.
"""

import hashlib
import http.server
import io
import json
import signal
import socket
import threading
import time
import zipfile

import pandas as pd
import pytest

import skiaa.datasets._fetch as fetch_module
from _helpers import start_skiaa
from _study_release import write_study_release
from skiaa.cli import main
from skiaa.datasets import (
    IMAPLUSPLUS_TABLES,
    FetchError,
    fetch_imaplusplus,
    load_imaplusplus,
)
from skiaa.utils import OutputFolder

N_IMAGES = 6
RECORD = "14201692"


def _md5(data):
    return hashlib.md5(data).hexdigest()


class FakeServer:
    """Routes path -> bytes on 127.0.0.1.

    ``cut[path] = n`` sends n bytes, then hangs up, once; ``stall[path] = n``
    sends n bytes, then waits for ``resume`` (30 s at most) before the rest, once;
    ``errors[path]`` is a list of HTTP statuses answered, one per request,
    before the content.
    """

    def __init__(self):
        self.routes, self.cut, self.log, self.errors = {}, {}, [], {}
        self.stall, self.resume = {}, threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10  # a stuck client cannot hold the server

            def do_GET(self):
                path = self.path.split("?")[0]
                server.log.append((path, self.headers.get("Range")))
                body = server.routes.get(path)
                if server.errors.get(path):
                    self.send_error(server.errors[path].pop(0))
                    return
                if body is None:
                    self.send_error(404)
                    return
                start, status = 0, 200
                ranged = self.headers.get("Range")
                if ranged and ranged.startswith("bytes="):
                    start = int(ranged[6:].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    status = 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                stall = server.stall.pop(path, None)
                if stall is not None:  # part of the body, then wait
                    self.wfile.write(body[start : start + stall])
                    self.wfile.flush()
                    server.resume.wait(30)
                    start += stall
                cut = server.cut.pop(path, None)
                if cut is not None:
                    self.wfile.write(body[start : start + cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.resume.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def requests_for(self, suffix):
        return [(p, r) for p, r in self.log if p.endswith(suffix)]


def _zip_masks(folder):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, f"segs/{path.name}")
    return buffer.getvalue()


def _publish(server, release, *, zenodo_tables=tuple(IMAPLUSPLUS_TABLES), extra=None):
    """Serve ``release`` (from :func:`write_study_release`) the way the real hosts do."""
    files = {"segs.zip": _zip_masks(release["masks"]), "README.txt": b"IMA++ fake release\n"}
    for key in zenodo_tables:
        name = IMAPLUSPLUS_TABLES[key]
        files[name] = (release["tables"] / name).read_bytes()
    files.update(extra or {})
    listing = []
    for name, body in files.items():
        route = f"/zenodo/records/14201693/files/{name}/content"
        server.routes[route] = body
        listing.append(
            {
                "key": name,
                "size": len(body),
                "checksum": f"md5:{_md5(body)}",
                "links": {"self": server.url + route},
            }
        )
    record = json.dumps({"id": 14201693, "conceptrecid": RECORD, "files": listing}).encode()
    server.routes[f"/zenodo/records/{RECORD}"] = record
    for path in sorted(release["images"].iterdir()):
        isic_id = path.stem
        route = f"/isic-files/{path.name}"
        server.routes[route] = path.read_bytes()
        detail = {
            "isic_id": isic_id,
            "files": {"full": {"url": server.url + route, "size": path.stat().st_size}},
        }
        server.routes[f"/isic/images/{isic_id}/"] = json.dumps(detail).encode()
    return files


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_study_release(tmp_path_factory.mktemp("release"), n_images=N_IMAGES)


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


def _urls(server):
    return dict(
        zenodo_url=server.url + "/zenodo",
        isic_url=server.url + "/isic",
        github_url=server.url + "/github",
        timeout=5,
        verbose=0,
    )


def _cli_urls(server):
    return [
        "--zenodo-url",
        server.url + "/zenodo",
        "--isic-url",
        server.url + "/isic",
        "--github-url",
        server.url + "/github",
        "--timeout",
        "5",
    ]


def test_fetch_fills_a_folder_that_load_imaplusplus_reads(server, release, tmp_path):
    served = _publish(server, release)
    result = fetch_imaplusplus(tmp_path / "ima", **_urls(server))
    root = tmp_path / "ima"
    assert result.root == root and result.record == "14201693"
    assert result.downloaded == len(served) + N_IMAGES and result.skipped == 0
    for name, body in served.items():
        assert (root / name).read_bytes() == body
    assert not list(root.rglob("*.part"))
    masks = load_imaplusplus(root, table="masks", masks=result.masks)
    assert masks["mask_exists"].all() and len(masks) == len(list(release["masks"].iterdir()))
    images = load_imaplusplus(root, images=result.images)
    assert images["image_exists"].all() and len(images) == N_IMAGES
    for path in images["image_path"]:
        original = release["images"] / path.rsplit("/", 1)[-1]
        with open(path, "rb") as handle:
            assert handle.read() == original.read_bytes()

    # A rerun finds everything verified: only the listings are asked for again.
    before = len(server.log)
    again = fetch_imaplusplus(root, **_urls(server))
    assert again.downloaded == 0 and again.skipped == len(served) + N_IMAGES
    assert all("/files/" not in p and "/isic-files/" not in p for p, _ in server.log[before:])


def test_record_listed_only_as_its_latest_version(server, release, tmp_path):
    # A concept id that Zenodo does not serve directly: asked for as versions/latest.
    _publish(server, release)
    server.routes[f"/zenodo/records/{RECORD}/versions/latest"] = server.routes.pop(
        f"/zenodo/records/{RECORD}"
    )
    result = fetch_imaplusplus(tmp_path, images=False, **_urls(server))
    assert result.record == "14201693" and result.images is None
    assert server.requests_for(f"/records/{RECORD}") and all(
        (tmp_path / n).is_file() for n in IMAPLUSPLUS_TABLES.values()
    )


def test_fetch_then_reproduce_finds_the_masks(server, release, tmp_path):
    # Tables and masks only: reproduce finds masks/ without --masks and
    # recomputes the agreement from the fetched PNGs.
    _publish(server, release)
    root = tmp_path / "ima"
    assert main(["fetch", "imaplusplus", str(root), "--no-images", "-q", *_cli_urls(server)]) == 0
    out = tmp_path / "out"
    assert main(["reproduce", "--imaplusplus", str(root), "--out", str(out), "-q"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["masks"] == str(root.resolve() / "masks")
    assert results["config"]["images"] is None
    assert results["agreement"]["method"] == "AgreementTransformer on the masks"
    assert results["agreement"]["max_abs_difference_to_release"] < 1e-9
    assert set(results["skipped"]) == {"iaa_regression", "diagnosis"}


@pytest.mark.slow
def test_fetch_then_reproduce_runs_every_step(server, release, tmp_path):
    _publish(server, release)
    root = tmp_path / "ima"
    assert main(["fetch", "imaplusplus", str(root), "-q", *_cli_urls(server)]) == 0
    out = tmp_path / "out"
    argv = ["reproduce", "--imaplusplus", str(root), "--out", str(out), "-q"]
    argv += ["--models", "test_resnet", "--image-size", "32", "--cv", "2", "--max-epochs", "1"]
    with pytest.warns(UserWarning, match="Validation split"):  # 6 images: tiny splits
        assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["images"] == str(root.resolve() / "images")
    assert results["config"]["masks"] == str(root.resolve() / "masks")
    assert results["agreement"]["method"] == "AgreementTransformer on the masks"
    assert results["skipped"] == {}
    assert len(results["iaa_regression"]["test_resnet"]["oof_prediction"]) == N_IMAGES


def test_an_explicit_masks_folder_wins_over_the_fetched_one(release, tmp_path):
    root = tmp_path / "ima"
    root.mkdir()
    for name in IMAPLUSPLUS_TABLES.values():
        (root / name).write_bytes((release["tables"] / name).read_bytes())
    (root / "masks").mkdir()  # empty: the run would fail on missing masks if it used it
    out = tmp_path / "out"
    argv = ["reproduce", "--imaplusplus", str(root), "--masks", str(release["masks"])]
    assert main([*argv, "--out", str(out), "-q"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["masks"] == str(release["masks"].resolve())
    assert results["agreement"]["max_abs_difference_to_release"] < 1e-9


def test_checksum_mismatch_names_the_file_and_keeps_nothing(server, release, tmp_path, capsys):
    served = _publish(server, release)
    # The listing promises one thing, the server sends another.
    route = "/zenodo/records/14201693/files/segs.zip/content"
    server.routes[route] = served["segs.zip"][:-1] + bytes([served["segs.zip"][-1] ^ 1])
    root = tmp_path / "ima"
    argv = ["fetch", "imaplusplus", str(root), "--no-images", "-q", *_cli_urls(server)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("skiaa fetch: error: segs.zip: MD5 ")
    assert "differs from the listed" in err and "missing from" in err
    assert not (root / "segs.zip").exists() and not (root / "segs.zip.part").exists()
    assert not (root / "masks").exists()
    # Every other file arrived and verified.
    assert (root / IMAPLUSPLUS_TABLES["pairs"]).read_bytes() == served[IMAPLUSPLUS_TABLES["pairs"]]


def test_interrupted_download_resumes_where_it_stopped(server, release, tmp_path):
    served = _publish(server, release)
    route = "/zenodo/records/14201693/files/segs.zip/content"
    server.cut[route] = 1000
    root = tmp_path / "ima"
    with pytest.raises(FetchError, match=r"segs\.zip: transfer interrupted after 1000 of "):
        fetch_imaplusplus(root, images=False, **_urls(server))
    assert (root / "segs.zip.part").stat().st_size == 1000
    assert not (root / "segs.zip").exists()

    result = fetch_imaplusplus(root, images=False, **_urls(server))
    assert (root / "segs.zip").read_bytes() == served["segs.zip"]
    assert not (root / "segs.zip.part").exists()
    assert server.requests_for(route)[-1] == (route, "bytes=1000-")
    # Only the interrupted file was downloaded again; the rest was verified.
    assert result.downloaded == 1 and result.skipped == len(served) - 1
    assert result.masks.is_dir()


def test_interrupted_image_download_resumes(server, release, tmp_path):
    _publish(server, release)
    first = sorted(release["images"].iterdir())[0]
    route = f"/isic-files/{first.name}"
    server.cut[route] = 100
    root = tmp_path / "ima"
    with pytest.raises(FetchError, match=f"{first.stem}"):
        fetch_imaplusplus(root, **_urls(server))
    fetch_imaplusplus(root, **_urls(server))
    assert (root / "images" / first.name).read_bytes() == first.read_bytes()
    assert server.requests_for(route)[-1] == (route, "bytes=100-")


def test_offline_is_one_line_naming_the_host_and_what_is_missing(server, tmp_path, capsys):
    url = server.url
    server.close()  # nothing listens there any more
    root = tmp_path / "ima"
    argv = ["fetch", "imaplusplus", str(root), "--zenodo-url", url + "/zenodo"]
    argv += ["--isic-url", url + "/isic", "--github-url", url + "/github", "--timeout", "5"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"skiaa fetch: error: could not reach {url} (")
    assert f"missing from {root}: the files of Zenodo record {RECORD}" in lines[0]
    assert "Traceback" not in captured.err


def test_offline_rerun_of_a_complete_folder_verifies_from_the_saved_listing(
    server, release, tmp_path
):
    _publish(server, release)
    root = tmp_path / "ima"
    fetch_imaplusplus(root, **_urls(server))
    urls = _urls(server)
    server.close()
    result = fetch_imaplusplus(root, **urls)
    assert result.downloaded == 0 and result.skipped > N_IMAGES
    # A file lost while offline is reported, with the host that could not be reached.
    (root / "README.txt").unlink()
    with pytest.raises(FetchError, match=r"could not reach .*missing from .*README\.txt"):
        fetch_imaplusplus(root, **urls)


def test_tables_not_in_the_record_come_from_the_pinned_github_files(
    server, release, tmp_path, monkeypatch
):
    # A record holding only the masks and the metadata: the other three tables
    # are the authors' GitHub files, checked against pinned MD5s.
    _publish(server, release, zenodo_tables=("metadata",))
    pins = {}
    for key, (commit, path, _, _) in fetch_module._GITHUB_TABLES.items():
        body = (release["tables"] / IMAPLUSPLUS_TABLES[key]).read_bytes()
        server.routes[f"/github/sfu-mial/IMAplusplus/{commit}/{path}"] = body
        pins[key] = (commit, path, _md5(body), len(body))
    monkeypatch.setattr(fetch_module, "_GITHUB_TABLES", pins)
    fetch_imaplusplus(tmp_path, images=False, **_urls(server))
    assert len([p for p, _ in server.log if p.startswith("/github/")]) == 3
    frame = load_imaplusplus(tmp_path)
    assert len(frame) == N_IMAGES


def test_a_github_table_differing_from_its_pin_is_refused(server, release, tmp_path):
    _publish(server, release, zenodo_tables=("metadata", "masks", "image_metrics"))
    commit, path, md5, _ = fetch_module._GITHUB_TABLES["pairs"]
    server.routes[f"/github/sfu-mial/IMAplusplus/{commit}/{path}"] = (
        release["tables"] / IMAPLUSPLUS_TABLES["pairs"]
    ).read_bytes()
    with pytest.raises(FetchError) as info:
        fetch_imaplusplus(tmp_path, images=False, **_urls(server))
    message = str(info.value)
    assert message.startswith(f"{IMAPLUSPLUS_TABLES['pairs']}: ")
    assert "\n" not in message
    assert not (tmp_path / IMAPLUSPLUS_TABLES["pairs"]).exists()


def test_pinned_github_tables_are_the_real_release_tables(imaplusplus_dir):
    for key, (_, path, md5, size) in fetch_module._GITHUB_TABLES.items():
        real = imaplusplus_dir / IMAPLUSPLUS_TABLES[key]
        assert path.endswith(real.name)
        data = real.read_bytes()
        assert (_md5(data), len(data)) == (md5, size), real.name


@pytest.mark.parametrize(
    "member", ["../evil.png", "/abs/evil.png", "segs/../../evil.png"], ids=["up", "abs", "deep"]
)
def test_archive_member_leaving_the_folder_is_refused(server, release, tmp_path, member):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(member, b"x")
    _publish(server, release, extra={"evil.zip": buffer.getvalue()})
    with pytest.raises(FetchError, match=r"evil\.zip: refusing the member"):
        fetch_imaplusplus(tmp_path / "ima", images=False, **_urls(server))
    assert not (tmp_path / "evil.png").exists()


@pytest.mark.parametrize("name", ["../escape.csv", "a/b.csv", ""])
def test_listing_with_a_path_for_a_name_is_refused(server, release, tmp_path, name):
    _publish(server, release)
    record = json.loads(server.routes[f"/zenodo/records/{RECORD}"])
    record["files"][0]["key"] = name
    server.routes[f"/zenodo/records/{RECORD}"] = json.dumps(record).encode()
    with pytest.raises(FetchError, match="refusing the file name"):
        fetch_imaplusplus(tmp_path / "ima", images=False, **_urls(server))
    assert not (tmp_path / "escape.csv").exists()


def test_base_urls_come_from_the_environment(server, release, tmp_path, monkeypatch):
    _publish(server, release)
    monkeypatch.setenv("SKIAA_ZENODO_API", server.url + "/zenodo")
    monkeypatch.setenv("SKIAA_ISIC_API", server.url + "/isic")
    result = fetch_imaplusplus(tmp_path, timeout=5, verbose=0)
    assert result.downloaded > N_IMAGES
    assert pd.read_csv(tmp_path / IMAPLUSPLUS_TABLES["metadata"]).shape[0] == N_IMAGES


def test_a_damaged_file_already_there_is_replaced(server, release, tmp_path):
    served = _publish(server, release)
    name = IMAPLUSPLUS_TABLES["pairs"]
    tmp_path.joinpath(name).write_bytes(served[name][:-10])  # e.g. an older version
    result = fetch_imaplusplus(tmp_path, images=False, **_urls(server))
    assert (tmp_path / name).read_bytes() == served[name]
    assert result.downloaded == len(served)


def test_a_busy_server_is_asked_again_other_errors_are_not(server, release, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "_BACKOFF", 0.0)
    served = _publish(server, release)
    route = "/zenodo/records/14201693/files/README.txt/content"
    server.errors[route] = [503, 429]
    first = sorted(release["images"].iterdir())[0].stem
    server.errors[f"/isic/images/{first}/"] = [404]
    with pytest.raises(FetchError) as info:
        fetch_imaplusplus(tmp_path, **_urls(server))
    assert (tmp_path / "README.txt").read_bytes() == served["README.txt"]
    assert len(server.requests_for("README.txt/content")) == 3
    # 404 is an answer: asked once, named in the one-line error.
    assert len(server.requests_for(f"/isic/images/{first}/")) == 1
    assert f"{first}: HTTP 404" in str(info.value) and "could not reach" not in str(info.value)
    assert str(info.value).endswith(f"missing from {tmp_path}: {first}; rerun to continue")


@pytest.mark.slow
def test_ctrl_c_keeps_the_partial_file_and_a_rerun_resumes_it(server, release, tmp_path):
    served = _publish(server, release)
    route = "/zenodo/records/14201693/files/segs.zip/content"
    server.stall[route] = 1500
    root = tmp_path / "ima"
    urls = [*_cli_urls(server)[:-1], "60"]  # the stall must outlast the wait below
    proc = start_skiaa("fetch", "imaplusplus", root, "--no-images", "-q", *urls)
    part = root / "segs.zip.part"
    for _ in range(400):  # 20 s at most for the first bytes to land
        if part.exists() and part.stat().st_size == 1500:
            break
        time.sleep(0.05)
    assert part.stat().st_size == 1500
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["skiaa fetch: interrupted"]
    assert part.stat().st_size == 1500 and not (root / "segs.zip").exists()
    server.resume.set()
    fetch_imaplusplus(root, images=False, **_urls(server))
    assert (root / "segs.zip").read_bytes() == served["segs.zip"]
    assert server.requests_for(route)[-1] == (route, "bytes=1500-")


def test_invenio_rdm_listing_downloads_the_content_links(server, release, tmp_path):
    # The InvenioRDM layout: files.entries by name, "self" is the entry's
    # metadata and "content" its bytes.
    served = _publish(server, release)
    record = json.loads(server.routes[f"/zenodo/records/{RECORD}"])
    entries = {}
    for entry in record["files"]:
        content = entry["links"]["self"]
        meta = content.removesuffix("/content")
        server.routes[meta.removeprefix(server.url)] = json.dumps(entry).encode()
        entries[entry["key"]] = {**entry, "links": {"self": meta, "content": content}}
    record["files"] = {"enabled": True, "entries": entries}
    server.routes[f"/zenodo/records/{RECORD}"] = json.dumps(record).encode()
    fetch_imaplusplus(tmp_path, images=False, **_urls(server))
    for name, body in served.items():
        assert (tmp_path / name).read_bytes() == body


@pytest.mark.parametrize("n_jobs", [0, -2, 1.5, True])
def test_bad_n_jobs_is_refused_before_any_request(server, tmp_path, n_jobs):
    with pytest.raises(ValueError, match="n_jobs must be a positive int or -1"):
        fetch_imaplusplus(tmp_path / "ima", n_jobs=n_jobs, **_urls(server))
    assert server.log == [] and not (tmp_path / "ima").exists()


def test_n_jobs_minus_one_uses_every_core(server, release, tmp_path):
    _publish(server, release)
    result = fetch_imaplusplus(tmp_path, n_jobs=-1, **_urls(server))
    assert result.images is not None and len(list(result.images.iterdir())) == N_IMAGES


def test_a_local_write_error_stops_with_one_line_naming_the_file(
    server, release, tmp_path, capsys
):
    served = _publish(server, release)
    root = tmp_path / "ima"
    last = IMAPLUSPLUS_TABLES["image_metrics"]  # the record's last file
    (root / f"{last}.part").mkdir(parents=True)  # stands for a disk refusing the write
    argv = ["fetch", "imaplusplus", str(root), "-q", *_cli_urls(server)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"skiaa fetch: error: could not write {root / last}.part: Is a directory; what was "
        "verified is kept, rerun to continue"
    ]
    # The files listed before it arrived and are remembered for the rerun.
    assert (root / "segs.zip").read_bytes() == served["segs.zip"]
    assert "segs.zip" in json.loads((root / ".skiaa-fetch.json").read_text())["verified"]


def test_a_folder_being_filled_by_another_fetch_is_refused(server, release, tmp_path, capsys):
    _publish(server, release)
    root = tmp_path / "ima"
    with OutputFolder(root, (), force=True):  # stands for a fetch in progress
        assert main(["fetch", "imaplusplus", str(root), "-q", *_cli_urls(server)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"skiaa fetch: error: folder {root} is in use by ")
    assert server.log == []  # nothing asked before the lock
    assert main(["fetch", "imaplusplus", str(root), "-q", *_cli_urls(server)]) == 0
