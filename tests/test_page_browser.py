"""The disagreement page in a real browser: headless Chromium renders it, its script runs.

Run with ``tox -e browser`` (or ``pytest -m browser``); skipped where no
Chromium is installed (Debian: ``apt-get install chromium``). Chromium is
driven from its command line (``--dump-dom`` gives the document after the
page's script ran, ``--screenshot`` a picture), so no browser driver package
is needed.
"""

import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from skiaa.cli import main
from skiaa.page import FILES_DIR, PAGE_FILE

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)"
    ),
]
WIDTH, HEIGHT = 1400, 2400  # tall enough for the summary and the first rows of cards


def _chromium(tmp_path, url, *args):
    # A profile of its own per run; --no-sandbox because CI runs as root.
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={WIDTH},{HEIGHT}",
            # Time for the pictures in view to load before the page is captured.
            "--virtual-time-budget=5000",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return result.stdout


class _Shown(HTMLParser):
    """Cards of a dumped document, split into shown and hidden, and the count line."""

    def __init__(self):
        super().__init__()
        self.shown, self.hidden, self.count, self._in_count = [], [], None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article":
            (self.hidden if "hidden" in attrs else self.shown).append(attrs)
        self._in_count = attrs.get("id") == "count"

    def handle_data(self, data):
        if self._in_count:
            self.count, self._in_count = data, False


def _dom(tmp_path, page, fragment=""):
    parsed = _Shown()
    parsed.feed(_chromium(tmp_path, page.as_uri() + fragment, "--dump-dom"))
    return parsed


def _screenshot(tmp_path, page, fragment, name):
    shot = tmp_path / name
    _chromium(tmp_path, page.as_uri() + fragment, f"--screenshot={shot}")
    with Image.open(shot) as img:
        return np.asarray(img.convert("RGB"))


def _pixels_like(shot, picture_file, tolerance=8):
    """How many screenshot pixels have the median colour of a picture file of the page.

    Pictures that failed to load leave empty boxes: none of their colour shows.
    """
    with Image.open(picture_file) as img:
        colour = np.median(np.asarray(img.convert("RGB")).reshape(-1, 3), axis=0)
    return int(np.all(np.abs(shot.astype(float) - colour) <= tolerance, axis=2).sum())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["agreement", "--demo", "30", "--html", "--out", str(out), "-q"]) == 0
    return out / PAGE_FILE


def test_demo_page_script_runs_and_filters(demo, tmp_path):
    dom = _dom(tmp_path, demo)
    assert len(dom.shown) == 30 and not dom.hidden
    assert dom.count == "showing 30 of 30 images"
    ranks = [int(c["data-rank"]) for c in dom.shown]
    assert ranks == sorted(ranks)  # worst first

    # The annotator filter, set from the address as a shared link would.
    legend = re.findall(r'<option value="(a\d+)" data-name="([^"]+)">', demo.read_text())
    code, name = legend[0]
    filtered = _dom(tmp_path, demo, f"#annotator={name}")
    with_it = [c for c in dom.shown if code in c["data-a"].split()]
    assert [c["data-id"] for c in filtered.shown] == [c["data-id"] for c in with_it]
    assert filtered.count == f"showing {len(with_it)} of 30 images"

    best = _dom(tmp_path, demo, "#sort=best")
    iaa = [float(c["data-iaa"]) for c in best.shown if c["data-iaa"]]
    assert iaa == sorted(iaa, reverse=True)


def test_demo_page_screenshot_shows_the_pictures(demo, tmp_path):
    shot = _screenshot(tmp_path, demo, "", "demo.png")
    assert shot.shape == (HEIGHT, WIDTH, 3)
    # The first card's photograph (128 px, shown about twice as large) is on screen.
    first = re.search(r"url\('([^']+-outlines\.jpg)'\)", demo.read_text()).group(1)
    assert first.startswith(FILES_DIR)
    assert _pixels_like(shot, demo.parent / first) > 5000


def test_real_sized_folder_renders(tmp_path):
    masks, images = tmp_path / "masks", tmp_path / "images"
    masks.mkdir()
    images.mkdir()
    yy, xx = np.mgrid[:768, :1024]
    rng = np.random.default_rng(0)
    for i in range(3):
        skin = np.full((768, 1024, 3), (200, 150, 130), np.uint8)
        lesion = (yy - 384) ** 2 / 200**2 + (xx - 512) ** 2 / 280**2 <= 1
        skin[lesion] = (90, 60, 50)
        Image.fromarray(skin).save(images / f"ISIC_{i:07d}.jpg")
        for j, annotator in enumerate(("A01", "A02", "A03")):
            a, b = rng.uniform(180, 230), rng.uniform(250, 310)
            mask = (yy - 384) ** 2 / a**2 + (xx - 512) ** 2 / b**2 <= 1
            Image.fromarray(mask.astype(np.uint8) * 255).save(
                masks / f"ISIC_{i:07d}_{annotator}_T1_S1_{j}.png"
            )
    out = tmp_path / "out"
    assert (
        main(["agreement", str(masks), "--images", str(images), "--html", "--out", str(out), "-q"])
        == 0
    )
    page = out / PAGE_FILE
    dom = _dom(tmp_path, page)
    assert len(dom.shown) == 3 and dom.count == "showing 3 of 3 images"
    shot = _screenshot(tmp_path, page, "", "real.png")
    # The skin of the three photographs, shrunk to thumbnails, fills much of each card.
    skin = np.all(np.abs(shot.astype(float) - (200, 150, 130)) <= 8, axis=2).sum()
    assert skin > 3 * 20000


def test_label_map_class_page_renders(tmp_path):
    yy, xx = np.mgrid[:60, :80]
    for i in range(3):
        case = tmp_path / "masks" / f"case{i}"
        case.mkdir(parents=True)
        for j in range(3):
            label_map = np.zeros((60, 80), np.uint8)
            label_map[(yy - 30) ** 2 / (16 + j) ** 2 + (xx - 40) ** 2 / 24**2 <= 1] = 1
            label_map[(yy - 30) ** 2 / (6 + i) ** 2 + (xx - 40) ** 2 / (8 + j) ** 2 <= 1] = 2
            Image.fromarray(label_map).save(case / f"rater{j}.png")
    out = tmp_path / "out"
    args = ["agreement", str(tmp_path / "masks"), "--labels", "1", "2", "--html"]
    assert main([*args, "--out", str(out), "-q"]) == 0
    page = out / "disagreement_label2.html"
    dom = _dom(tmp_path, page, "#sort=best")
    assert len(dom.shown) == 3 and dom.count == "showing 3 of 3 images"
    iaa = [float(c["data-iaa"]) for c in dom.shown]
    assert iaa == sorted(iaa, reverse=True)
    # The class control shows the page it is on.
    assert '<option value="disagreement_label2.html" selected="">' in _chromium(
        tmp_path, page.as_uri(), "--dump-dom"
    )
