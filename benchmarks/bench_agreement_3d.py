"""Time skiaa's HD95 and ASSD on 3-D volumes with anisotropic spacing against medpy.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_agreement_3d.py [--side 256] [--repeat 2]

Two lesion-like volumes of ``side**3`` voxels (balls whose radius is modulated
by low-frequency spherical harmonics-like waves, the second shifted and
scaled) are built once, with CT-like anisotropic spacing (slices 2.5 apart,
0.8 in-plane). skiaa and ``medpy.metric.binary`` then run on the same pair;
each timing is the best of ``--repeat`` runs after a warm-up, and the values
are checked equal (to 1e-6) before the ratio is printed.
"""

import argparse
import platform
import time

import numpy as np

from skiaa.agreement import assd, hd95, pairwise_agreement


def lesion_volume(side, *, centre, radius, seed):
    """A ball whose radius is modulated by a few random low-frequency waves."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = (np.arange(side, dtype=np.float32) - c for c in centre)
    r = np.sqrt(zz[:, None, None] ** 2 + yy[None, :, None] ** 2 + xx[None, None, :] ** 2)
    theta = np.arctan2(yy[None, :, None], xx[None, None, :])
    phi = np.arccos(np.clip(zz[:, None, None] / np.maximum(r, 1e-6), -1, 1))
    wobble = np.ones_like(r)
    for harmonic in range(2, 5):
        amp = rng.uniform(0.02, 0.06)
        wobble += amp * np.cos(harmonic * theta + rng.uniform(0, 2 * np.pi)) * np.sin(phi)
        wobble += amp * np.cos(harmonic * phi + rng.uniform(0, 2 * np.pi))
    return r <= radius * wobble


def timed(func, repeat):
    value = func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        value = func()
        times.append(time.perf_counter() - start)
    return min(times), value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=256, help="volume side in voxels")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per measurement")
    args = parser.parse_args(argv)
    from medpy.metric import binary as medpy_binary

    side = args.side
    spacing = (2.5, 0.8, 0.8)
    a = lesion_volume(side, centre=(side / 2,) * 3, radius=0.33 * side, seed=1)
    b = lesion_volume(
        side, centre=(side * 0.52, side * 0.49, side * 0.5), radius=0.31 * side, seed=2
    )
    cases = [
        (
            "HD95",
            lambda: hd95(a, b, spacing=spacing),
            lambda: medpy_binary.hd95(a, b, voxelspacing=spacing),
        ),
        (
            "ASSD",
            lambda: assd(a, b, spacing=spacing),
            lambda: medpy_binary.assd(a, b, voxelspacing=spacing),
        ),
        (
            "HD95+ASSD",
            lambda: tuple(
                pairwise_agreement([a, b], ["hd95", "assd"], spacing=spacing).iloc[0, 2:4]
            ),
            lambda: (
                medpy_binary.hd95(a, b, voxelspacing=spacing),
                medpy_binary.assd(a, b, voxelspacing=spacing),
            ),
        ),
    ]
    print(f"numpy {np.__version__}, python {platform.python_version()}, {platform.machine()}")
    print(
        f"{side}^3 voxels, spacing {spacing}, {int(a.sum())} and {int(b.sum())} foreground "
        f"voxels; best of {args.repeat} runs after a warm-up\n"
    )
    print(f"{'metric':>10} {'skiaa s':>9} {'medpy s':>9} {'speed-up':>9}  value")
    for name, ours, theirs in cases:
        t_ours, v_ours = timed(ours, args.repeat)
        t_theirs, v_theirs = timed(theirs, args.repeat)
        np.testing.assert_allclose(v_ours, v_theirs, rtol=0, atol=1e-6, err_msg=name)
        shown = v_ours if np.ndim(v_ours) == 0 else v_ours[0]
        print(
            f"{name:>10} {t_ours:9.3f} {t_theirs:9.3f} {t_theirs / t_ours:8.1f}x  "
            f"{float(shown):.6g}"
        )
    print("\nall values equal to 1e-6")


if __name__ == "__main__":
    main()
