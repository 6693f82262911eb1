"""Time skiaa's agreement metrics against a numpy Dice and medpy, at ISIC sizes.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_agreement.py [--repeat 5] [--sizes 1024x768 4000x3000]

For each size, two lesion-like masks (ellipses whose outline is perturbed by a few
random low-frequency harmonics, the second shifted, scaled and rotated from the
first) are built once; every implementation then runs on the same pair. Each
timing is the best of ``--repeat`` runs (after one warm-up run), and the values
are checked equal (to 1e-6) before the ratios are printed.

Baselines:
- Dice: plain numpy on boolean arrays, ``2 * (a & b).sum() / (a.sum() + b.sum())``;
- HD95, ASSD, HD and Jaccard: ``medpy.metric.binary`` (what the IMA++ release used);
- "all 8 metrics": one ``pairwise_agreement`` call on the pair against medpy's
  dc, jc, hd, hd95 and assd calls (the normalised distances are divisions).
"""

import argparse
import platform
import time

import numpy as np

from skiaa.agreement import assd, dice, hausdorff, hd95, jaccard, pairwise_agreement


def lesion_mask(height, width, *, centre, radii, angle, seed):
    """An ellipse whose radius is modulated by random harmonics (a lesion-like blob)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    dy, dx = yy - centre[0], xx - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = (dx * c + dy * s) / radii[1], (-dx * s + dy * c) / radii[0]
    theta = np.arctan2(v, u)
    wobble = np.ones_like(theta)
    for harmonic in range(2, 7):
        amplitude = rng.uniform(0.01, 0.05)
        wobble += amplitude * np.cos(harmonic * theta + rng.uniform(0, 2 * np.pi))
    return np.sqrt(u * u + v * v) <= wobble


def make_pair(height, width):
    scale = min(height, width)
    a = lesion_mask(
        height,
        width,
        centre=(height * 0.5, width * 0.5),
        radii=(0.30 * scale, 0.38 * scale),
        angle=0.2,
        seed=1,
    )
    b = lesion_mask(
        height,
        width,
        centre=(height * 0.52, width * 0.49),
        radii=(0.28 * scale, 0.40 * scale),
        angle=0.3,
        seed=2,
    )
    return a, b


def numpy_dice(a, b):
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())


def write_csv(path, rows):
    """Write a benchmark's table (header first) where the user guide includes it."""
    import csv

    with open(path, "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    print(f"wrote {path}")


def timed(func, a, b, repeat):
    """Best wall time (s) of ``repeat`` calls ``func(a, b)`` after a warm-up, and its value.

    The minimum, as :mod:`timeit` advises: on a shared machine the other
    processes only ever add time, so the best run is the least noisy estimate.
    """
    value = func(a, b)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        value = func(a, b)
        times.append(time.perf_counter() - start)
    return min(times), value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    parser.add_argument(
        "--sizes", nargs="+", default=["1024x768", "4000x3000"], help="WIDTHxHEIGHT, as ISIC"
    )
    args = parser.parse_args(argv)

    from medpy.metric import binary as medpy_binary

    def medpy_all(a, b):
        return (
            medpy_binary.dc(a, b),
            medpy_binary.jc(a, b),
            medpy_binary.hd(a, b),
            medpy_binary.hd95(a, b),
            medpy_binary.assd(a, b),
        )

    cases = [
        ("Dice", dice, numpy_dice, "numpy bool"),
        ("Jaccard", jaccard, medpy_binary.jc, "medpy"),
        ("HD", hausdorff, medpy_binary.hd, "medpy"),
        ("HD95", hd95, medpy_binary.hd95, "medpy"),
        ("ASSD", assd, medpy_binary.assd, "medpy"),
        (
            "all 8 metrics",
            lambda a, b: tuple(pairwise_agreement([a, b]).iloc[0, 2:7]),
            medpy_all,
            "medpy x5",
        ),
    ]
    print(f"numpy {np.__version__}, python {platform.python_version()}, {platform.machine()}")
    print(f"best of {args.repeat} runs after a warm-up\n")
    header = f"{'size':>10} {'metric':>14} {'skiaa ms':>10} {'baseline ms':>12} {'baseline':>11}"
    print(header + f" {'speed-up':>9}  value")
    for size in args.sizes:
        width, height = (int(x) for x in size.lower().split("x"))
        a, b = make_pair(height, width)
        for name, ours, theirs, label in cases:
            t_ours, v_ours = timed(ours, a, b, args.repeat)
            t_theirs, v_theirs = timed(theirs, a, b, args.repeat)
            np.testing.assert_allclose(v_ours, v_theirs, rtol=0, atol=1e-6, err_msg=name)
            shown = v_ours if np.ndim(v_ours) == 0 else v_ours[0]
            print(
                f"{size:>10} {name:>14} {t_ours * 1e3:10.2f} {t_theirs * 1e3:12.2f} "
                f"{label:>11} {t_theirs / t_ours:8.1f}x  {float(shown):.6g}"
            )
    print("\nall values equal to 1e-6")


if __name__ == "__main__":
    main()
