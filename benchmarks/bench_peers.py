"""Time skiaa's boundary metrics against the fastest installed peer, equal values checked first.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_peers.py [--repeat 9] [--csv FILE]

(the user guide includes ``--csv docs/user_guide/bench_peers.csv``).

Each peer is timed only on the metrics whose definition skiaa reproduces
(the definitions are named by ``benchmarks/peer_definitions.py``), with the
skiaa option that reproduces it: medpy (``hausdorff``, ``hd95`` pooled,
``assd``), MONAI (``hausdorff``, ``hd95`` "max", ``assd``, ``surface_dice``
on border pixels; float32) and DeepMind's surface-distance (``hd95``
"area_weighted", ``surface_dice`` on area-weighted surface elements). The
values of skiaa and the peer are checked equal (1e-9, 1e-4 relative for
MONAI's float32) before any timing is kept; then both run side by side in
this process, in turns (one run of each per round, so that a change of load
falls on all alike), ``--repeat`` rounds after a warm-up. The times shown
are the best of the rounds; the speed-up is the median over rounds of the
fastest peer's time over skiaa's in the same round.

Cases: a pair of lesion-like masks of 1024 x 768 pixels (the ISIC size),
a pair of 128^3 volumes with spacing (2.5, 0.8, 0.8), and a 1024 x 768 label
map of three classes, measured per class in one call
(``labels=[1, 2, 3]``) against the peers' per-class calls (MONAI takes the
three one-hot channels at once; medpy and surface-distance one class at a
time). On a shared machine only the ratios mean something.
"""

import argparse
import os
import platform
import time
import warnings

import numpy as np
from bench_agreement import make_pair, write_csv
from bench_agreement_3d import lesion_volume

from skiaa.agreement import assd, hausdorff, hd95, surface_dice

TOLERANCE = 2.0


def side_by_side(funcs, args, repeat):
    """Values and wall times (s) of each ``func(*args)``, runs taken in turns.

    One warm-up call each gives the values; then each of ``repeat`` rounds runs
    every function once, so that a change of the machine's load falls on all
    of them alike. Returns ``(values, times)``, ``times[name]`` one per round.
    """
    values = {name: func(*args) for name, func in funcs.items()}
    times = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            start = time.perf_counter()
            func(*args)
            times[name].append(time.perf_counter() - start)
    return values, times


def cases():
    a2, b2 = make_pair(768, 1024)
    side = 128
    a3 = lesion_volume(side, centre=(64, 62, 66), radius=40, seed=1)
    b3 = lesion_volume(side, centre=(63, 65, 64), radius=41, seed=2)
    # Three classes: the lesion, a core inside it, a rim band outside it.
    maps = []
    for mask in make_pair(768, 1024):
        from scipy import ndimage

        labels = np.zeros(mask.shape, np.uint8)
        labels[ndimage.binary_dilation(mask, iterations=12) & ~mask] = 3
        labels[mask] = 1
        labels[ndimage.binary_erosion(mask, iterations=40)] = 2
        maps.append(labels)
    return [
        ("1024x768", a2, b2, (1.0, 1.0), None),
        ("128^3, spacing (2.5, 0.8, 0.8)", a3, b3, (2.5, 0.8, 0.8), None),
        ("1024x768, 3 classes", maps[0], maps[1], (1.0, 1.0), [1, 2, 3]),
    ]


def skiaa_funcs(labels):
    """``(metric, definition) -> skiaa function of (a, b, spacing)``."""
    kw = {} if labels is None else {"labels": labels}
    return {
        ("hausdorff", "border pixels"): lambda a, b, sp: hausdorff(a, b, spacing=sp, **kw),
        ("hd95", "pooled"): lambda a, b, sp: hd95(a, b, spacing=sp, **kw),
        ("hd95", "max"): lambda a, b, sp: hd95(a, b, spacing=sp, hd_percentile="max", **kw),
        ("hd95", "area_weighted"): lambda a, b, sp: hd95(
            a, b, spacing=sp, hd_percentile="area_weighted", **kw
        ),
        ("assd", "border pixels"): lambda a, b, sp: assd(a, b, spacing=sp, **kw),
        ("surface_dice", "border pixels"): lambda a, b, sp: surface_dice(
            a, b, TOLERANCE, spacing=sp, **kw
        ),
        ("surface_dice", "area_weighted"): lambda a, b, sp: surface_dice(
            a, b, TOLERANCE, spacing=sp, surface="area_weighted", **kw
        ),
    }


def per_class(func, labels):
    """A binary peer function applied class by class (its only way with label maps)."""
    if labels is None:
        return func
    return lambda a, b, sp: np.array([func(a == c, b == c, sp) for c in labels])


def peer_funcs(labels):
    """``(metric, definition) -> {peer: function}`` of the installed peers."""
    out = {}

    def add(key, peer, func):
        out.setdefault(key, {})[peer] = func

    try:
        from medpy.metric import binary
    except ImportError:
        binary = None
    if binary is not None:
        add(
            ("hausdorff", "border pixels"),
            "medpy",
            per_class(lambda a, b, sp: binary.hd(a, b, voxelspacing=sp), labels),
        )
        add(
            ("hd95", "pooled"),
            "medpy",
            per_class(lambda a, b, sp: binary.hd95(a, b, voxelspacing=sp), labels),
        )
        add(
            ("assd", "border pixels"),
            "medpy",
            per_class(lambda a, b, sp: binary.assd(a, b, voxelspacing=sp), labels),
        )
    try:
        import torch
        from monai import metrics as monai_metrics
    except ImportError:
        monai_metrics = None
    if monai_metrics is not None:
        classes = [1] if labels is None else labels

        def onehot(m):
            return torch.from_numpy(np.stack([m == c for c in classes])[None].astype(np.float32))

        def monai(name, **kw):
            func = getattr(monai_metrics, name)

            def run(a, b, sp):
                if labels is None:
                    a, b = a.astype(np.uint8), b.astype(np.uint8)
                value = func(onehot(a), onehot(b), include_background=True, spacing=list(sp), **kw)
                value = value.numpy().reshape(-1).astype(np.float64)
                return value if labels is not None else float(value[0])

            return run

        add(("hausdorff", "border pixels"), "MONAI", monai("compute_hausdorff_distance"))
        add(("hd95", "max"), "MONAI", monai("compute_hausdorff_distance", percentile=95))
        add(
            ("assd", "border pixels"),
            "MONAI",
            monai("compute_average_surface_distance", symmetric=True),
        )
        add(
            ("surface_dice", "border pixels"),
            "MONAI",
            monai("compute_surface_dice", class_thresholds=[TOLERANCE] * len(classes)),
        )
    try:
        import surface_distance
    except ImportError:
        surface_distance = None
    if surface_distance is not None:

        def deepmind(metric):
            def run(a, b, sp):
                d = surface_distance.compute_surface_distances(b, a, sp)
                if metric == "hd95":
                    return surface_distance.compute_robust_hausdorff(d, 95)
                return surface_distance.compute_surface_dice_at_tolerance(d, TOLERANCE)

            return per_class(run, labels)

        add(("hd95", "area_weighted"), "surface-distance", deepmind("hd95"))
        add(("surface_dice", "area_weighted"), "surface-distance", deepmind("surface_dice"))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="timed rounds per measurement")
    parser.add_argument("--csv", default=None, help="also write the table to this CSV file")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # the peers' deprecation warnings
    print(f"numpy {np.__version__}, python {platform.python_version()}, {platform.machine()}")
    print(
        f"{args.repeat} rounds after a warm-up, values checked equal first: best times, "
        "median of the rounds' speed-ups"
    )
    print(
        "load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}\n".format(*os.getloadavg())
    )
    header = ("case", "metric", "definition", "skiaa ms", "peers ms", "fastest peer", "speed-up")
    rows = [header]
    print(" | ".join(header))
    for case, a, b, spacing, labels in cases():
        ours_all = skiaa_funcs(labels)
        for key, peers in peer_funcs(labels).items():
            values, times = side_by_side(
                {"skiaa": ours_all[key], **peers}, (a, b, spacing), args.repeat
            )
            ours = np.array(times.pop("skiaa"))
            for peer in peers:
                rtol = 1e-4 if peer == "MONAI" else 1e-9
                np.testing.assert_allclose(
                    values["skiaa"],
                    values[peer],
                    rtol=rtol,
                    atol=1e-6,
                    err_msg=f"{case} {key} {peer}",
                )
            fastest = min(times, key=lambda peer: min(times[peer]))
            # The ratio within each round (runs close in time), median over rounds:
            # steadier under a changing load than the ratio of two best times.
            speed_up = np.median(np.array(times[fastest]) / ours)
            row = (
                case,
                key[0],
                key[1],
                f"{ours.min() * 1e3:.1f}",
                ", ".join(f"{p} {min(t) * 1e3:.0f}" for p, t in times.items()),
                fastest,
                f"{speed_up:.1f}x",
            )
            rows.append(row)
            print(" | ".join(row), flush=True)
    print("\nall values equal to the peers' (MONAI: 1e-4 relative, float32)")
    print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if args.csv:
        write_csv(args.csv, rows)


if __name__ == "__main__":
    main()
