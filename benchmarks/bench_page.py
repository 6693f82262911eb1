"""The disagreement page of a large study: generation time, page size, first paint.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_page.py [--n-images 2000] [--size 96 72]
    PYTHONPATH=src python benchmarks/bench_page.py --n-images 12 --size 1024 768 --keep DIR

A folder of ``--n-images`` lesion-like images (JPEG) with 2 to 4 annotators'
masks each (PNG, IMA++ names) is written, then timed side by side on it:

- ``mask_folder_agreement``, the two CSV tables alone (the baseline: what
  ``skiaa agreement MASK_DIR`` costs without ``--html``);
- ``mask_folder_page``, the tables and the page (``--html``).

The ratio says what the page adds. Then the page's size: the HTML file, the
pictures and their count. Where Chromium is installed, the wall time of a
headless screenshot of the page is printed as a proxy for the first paint
(it includes Chromium's start, so compare it with the same screenshot of an
empty page, printed beside it). Nothing is asserted.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from skiaa.datasets import mask_folder_agreement
from skiaa.page import FILES_DIR, PAGE_FILE, mask_folder_page

sys.path.insert(0, str(Path(__file__).parent))
from bench_agreement import lesion_mask

TOOLS = ("T1", "T2", "T3")


def write_study(folder, n_images, height, width, seed=0):
    """Images and 2-4 annotators' masks each, flat IMA++ names; returns (masks, images)."""
    rng = np.random.default_rng(seed)
    masks, images = Path(folder) / "masks", Path(folder) / "images"
    masks.mkdir(parents=True)
    images.mkdir()
    scale = min(height, width)
    yy, xx = np.mgrid[:height, :width]
    for i in range(n_images):
        image_id = f"ISIC_{i:07d}"
        centre = (height * rng.uniform(0.4, 0.6), width * rng.uniform(0.4, 0.6))
        radii = (scale * rng.uniform(0.15, 0.3), scale * rng.uniform(0.2, 0.35))
        skin = np.array([205, 160, 140]) + rng.normal(0, 6, size=3)
        lesion = lesion_mask(height, width, centre=centre, radii=radii, angle=0.3, seed=i)
        picture = np.broadcast_to(skin, (height, width, 3)).copy()
        shade = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * (scale / 6) ** 2))
        picture[lesion] = picture[lesion] * 0.55 - 40 * shade[lesion, None]
        picture += rng.normal(0, 4, size=picture.shape)
        Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).save(
            images / f"{image_id}.jpg", quality=90
        )
        for j in range(int(rng.integers(2, 5))):
            annotator = f"A{int(rng.integers(1, 16)):02d}"
            mask = lesion_mask(
                height,
                width,
                centre=(centre[0] + rng.normal(0, scale / 60), centre[1]),
                radii=(radii[0] * rng.uniform(0.85, 1.15), radii[1] * rng.uniform(0.85, 1.15)),
                angle=0.3 + rng.normal(0, 0.1),
                seed=int(rng.integers(1 << 30)),
            )
            tool = TOOLS[int(annotator[1:]) % 3]
            name = f"{image_id}_{annotator}_{tool}_S{1 + int(annotator[1:]) % 2}_{j}.png"
            Image.fromarray(mask.astype(np.uint8) * 255).save(masks / name)
    return masks, images


def _size(path):
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _screenshot_seconds(chromium, page, shot):
    start = time.perf_counter()
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,1000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=2000)
    parser.add_argument("--size", type=int, nargs=2, default=(96, 72), metavar=("W", "H"))
    parser.add_argument(
        "--keep", metavar="DIR", help="write the study and page here and keep them"
    )
    args = parser.parse_args()
    width, height = args.size
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_page_"))
    try:
        masks, images = write_study(root / "study", args.n_images, height, width)
        start = time.perf_counter()
        tables = mask_folder_agreement(masks, ["dice", "hd95"])
        t_tables = time.perf_counter() - start
        start = time.perf_counter()
        page = mask_folder_page(
            masks, root / "page", image_dir=images, metrics=["dice", "hd95"], force=True
        )
        t_page = time.perf_counter() - start
        assert page.images.equals(tables.images)  # the same numbers, before any ratio
        html = root / "page" / PAGE_FILE
        files = root / "page" / FILES_DIR
        n_masks = len(tables.masks)
        print(
            f"{args.n_images} images of {width}x{height}, {n_masks} masks, "
            f"{len(tables.pairs)} pairs"
        )
        print(f"tables alone (mask_folder_agreement): {t_tables:7.2f} s")
        print(
            f"tables + page (mask_folder_page):     {t_page:7.2f} s  "
            f"({t_page / t_tables:.2f}x the tables; "
            f"{1000 * (t_page - t_tables) / args.n_images:.1f} ms per image for the page)"
        )
        print(
            f"page: {_size(html) / 1e6:.2f} MB HTML, {_size(files) / 1e6:.1f} MB of "
            f"{len(list(files.iterdir()))} pictures"
        )
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium:
            empty = root / "empty.html"
            empty.write_text("<!DOCTYPE html><title>empty</title><p>empty</p>")
            t_empty = _screenshot_seconds(chromium, empty, root / "empty.png")
            t_shot = _screenshot_seconds(chromium, html, root / "page.png")
            print(f"headless Chromium screenshot: page {t_shot:.2f} s, empty page {t_empty:.2f} s")
        print(f"(python {sys.version.split()[0]}, {os.cpu_count()} cores)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
