"""Which HD95 definition each installed peer uses, and what it returns on empty masks.

Run from the repository root::

    PYTHONPATH=src python benchmarks/peer_definitions.py

Each installed peer (medpy, MONAI, DeepMind's surface-distance, seg-metrics)
computes HD95 on the same pairs of masks (2-D and 3-D, with anisotropic
spacing, among them a square beside a stray islet, where the definitions
differ by pixels); the script names the skiaa ``hd_percentile`` whose values
it reproduces on every pair, or says that none does. It then runs each peer
on a pair with one empty mask and on two empty masks and records what comes
back: a number, NaN, inf, or the exception raised. The two tables are
written as CSV files that the agreement user guide includes, so that the
guide says what the installed peers do, not what someone remembers; peers
that are not installed are listed as such.
"""

import argparse
import importlib.metadata
import math
import warnings
from pathlib import Path

import numpy as np
from bench_agreement import write_csv
from scipy import ndimage

from skiaa.agreement import hd95

DOCS = Path(__file__).resolve().parents[1] / "docs" / "user_guide"
DEFINITIONS = ("pooled", "max", "area_weighted")


def _pairs():
    """Pairs ``(a, b, spacing)`` on which the three definitions all differ."""
    rng = np.random.default_rng(0)
    out = []
    square = np.zeros((48, 48), bool)
    square[8:28, 8:28] = True
    islet = square.copy()
    islet[36:39, 36:38] = True
    out.append((square, islet, (1.0, 1.0)))
    for shape, spacing in (((60, 70), (0.7, 1.3)), ((18, 24, 22), (2.5, 0.9, 0.8))):
        for _ in range(2):
            a, b = (ndimage.gaussian_filter(rng.random(shape), 2.5) > 0.52 for _ in range(2))
            out.append((a, b, spacing))
    return out


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _peers():
    """``name -> (version, hd95(a, b, spacing))`` of the installed peers, the reference second."""
    peers = {}
    if _version("medpy"):
        from medpy.metric import binary

        peers["medpy (metric.binary.hd95)"] = (
            _version("medpy"),
            lambda a, b, sp: binary.hd95(a, b, voxelspacing=sp),
        )
    if _version("monai"):
        import torch
        from monai.metrics import compute_hausdorff_distance

        def monai_hd95(a, b, sp):
            pred, ref = (torch.from_numpy(m[None, None].astype(np.float32)) for m in (a, b))
            value = compute_hausdorff_distance(
                pred, ref, include_background=True, percentile=95, spacing=list(sp)
            )
            return float(value.reshape(-1)[0])

        peers["MONAI (compute_hausdorff_distance, percentile=95)"] = (
            _version("monai"),
            monai_hd95,
        )
    if _version("surface-distance"):
        import surface_distance

        def deepmind_hd95(a, b, sp):
            distances = surface_distance.compute_surface_distances(b, a, sp)
            return float(surface_distance.compute_robust_hausdorff(distances, 95))

        peers["DeepMind surface-distance (compute_robust_hausdorff)"] = (
            _version("surface-distance"),
            deepmind_hd95,
        )
    if _version("seg-metrics"):
        from seg_metrics import seg_metrics

        def seg_metrics_hd95(a, b, sp):
            rows = seg_metrics.write_metrics(
                labels=[1],
                gdth_img=b.astype(np.uint8),
                pred_img=a.astype(np.uint8),
                csv_file=None,
                metrics=["hd95"],
                spacing=list(sp),
                verbose=False,
            )
            return float(rows[0]["hd95"][0])

        peers["seg-metrics (write_metrics, hd95)"] = (_version("seg-metrics"), seg_metrics_hd95)
    return peers


MISSING = {
    "medpy": "medpy",
    "monai": "MONAI",
    "surface-distance": "DeepMind surface-distance",
    "seg-metrics": "seg-metrics",
}


def _outcome(func, *args):
    """What ``func(*args)`` gives: a rounded number, ``nan``, ``inf``, or ``raises X``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(func(*args))
    except Exception as exc:
        return f"raises {type(exc).__name__}"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf"
    return f"{value:g}"


def definitions_table(peers, pairs):
    rows = [("tool", "version", "HD95 definition (skiaa hd_percentile)", "largest difference")]
    for name, (version, func) in peers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = np.array([func(a, b, sp) for a, b, sp in pairs])
        gaps = {}
        for definition in DEFINITIONS:
            ours = np.array(
                [hd95(a, b, spacing=sp, hd_percentile=definition) for a, b, sp in pairs]
            )
            # MONAI and seg-metrics compute in float32: equal means within 1e-4 relative.
            gaps[definition] = float(np.max(np.abs(theirs - ours) / np.maximum(1.0, ours)))
        best = min(gaps, key=gaps.get)
        if gaps[best] <= 1e-4:
            gap = "equal" if gaps[best] == 0 else f"{gaps[best]:.0e} relative (rounding)"
            rows.append((name, version, f'"{best}"', gap))
        else:
            closest = f'none of skiaa\'s (closest: "{best}")'
            rows.append((name, version, closest, f"{gaps[best]:.2g} relative"))
    for dist, name in MISSING.items():
        if not _version(dist):
            rows.append((name, "not installed", "not measured", ""))
    return rows


def empty_table(peers):
    full = np.zeros((16, 16), bool)
    full[4:10, 4:10] = True
    empty = np.zeros_like(full)
    rows = [("tool", "one mask empty", "both masks empty")]
    for label, options in (
        ('skiaa (empty="nan", the default)', {}),
        ('skiaa (empty="worst")', {"empty": "worst"}),
    ):

        def ours(a, b, sp, options=options):
            return hd95(a, b, spacing=sp, **options)

        rows.append(
            (label, _outcome(ours, full, empty, (1.0, 1.0)), _outcome(ours, empty, empty, (1, 1)))
        )
    for name, (_, func) in peers.items():
        rows.append(
            (
                name,
                _outcome(func, full, empty, (1.0, 1.0)),
                _outcome(func, empty, empty, (1.0, 1.0)),
            )
        )
    return rows


def _write_csv(path, rows):
    write_csv(path, rows)
    for row in rows:
        print("  " + " | ".join(row))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="folder of the two CSV files")
    args = parser.parse_args(argv)
    peers = _peers()
    _write_csv(args.out / "peer_hd95.csv", definitions_table(peers, _pairs()))
    _write_csv(args.out / "peer_empty.csv", empty_table(peers))


if __name__ == "__main__":
    main()
