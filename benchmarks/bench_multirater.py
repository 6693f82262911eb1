"""Time skiaa's Krippendorff's alpha against the ``krippendorff`` package, on mask stacks.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_multirater.py [--repeat 3] [--sizes 256x256 1024x768]

For each size, a stack of ``--raters`` lesion-like masks (the outlines of
``bench_agreement.py``, each rater's own harmonics, shift and scale) is built
once; both implementations run on it in the same process, pixel-level nominal
alpha (skiaa: ``krippendorff_alpha(stack)``; reference:
``krippendorff.alpha(stack.reshape(k, -1), level_of_measurement="nominal",
value_domain=[0, 1])``, the reliability data as float). A second case hides
20 % of the values (NaN: missing raters). The values are checked equal (to
1e-9) before the ratios are printed. Each timing is the best of ``--repeat``
runs after a warm-up; the reference is given the float array it needs, built
outside the timing.
"""

import argparse
import platform

import numpy as np
from bench_agreement import lesion_mask, timed, write_csv

from skiaa.agreement import krippendorff_alpha


def make_stack(height, width, raters):
    scale = min(height, width)
    rng = np.random.default_rng(0)
    masks = []
    for seed in range(raters):
        masks.append(
            lesion_mask(
                height,
                width,
                centre=(height * rng.uniform(0.48, 0.52), width * rng.uniform(0.48, 0.52)),
                radii=(scale * rng.uniform(0.27, 0.31), scale * rng.uniform(0.36, 0.40)),
                angle=rng.uniform(0.1, 0.3),
                seed=seed,
            )
        )
    return np.stack(masks)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--raters", type=int, default=4, help="masks per stack")
    parser.add_argument("--sizes", nargs="+", default=["256x256", "1024x768"], help="WIDTHxHEIGHT")
    parser.add_argument(
        "--csv",
        default=None,
        help="also write the table to this CSV file (the user guide includes "
        "docs/user_guide/bench_multirater.csv)",
    )
    args = parser.parse_args(argv)
    rows = [("size", "case", "skiaa ms", "krippendorff ms", "speed-up")]

    import krippendorff

    def reference(data):
        return krippendorff.alpha(
            reliability_data=data, level_of_measurement="nominal", value_domain=[0.0, 1.0]
        )

    print(f"numpy {np.__version__}, python {platform.python_version()}, {platform.machine()}")
    print(f"{args.raters} raters, best of {args.repeat} runs after a warm-up\n")
    print(
        f"{'size':>10} {'case':>14} {'skiaa ms':>10} {'krippendorff ms':>16} "
        f"{'speed-up':>9}  alpha"
    )
    for size in args.sizes:
        width, height = (int(x) for x in size.lower().split("x"))
        stack = make_stack(height, width, args.raters)
        with_missing = stack.astype(np.float64)
        with_missing[np.random.default_rng(1).random(stack.shape) < 0.2] = np.nan
        for case, ours_input in (("complete", stack), ("20% missing", with_missing)):
            data = ours_input.reshape(args.raters, -1).astype(np.float64)
            t_ours, v_ours = timed(
                lambda x, _: krippendorff_alpha(x), ours_input, None, args.repeat
            )
            t_ref, v_ref = timed(lambda d, _: reference(d), data, None, args.repeat)
            np.testing.assert_allclose(v_ours, v_ref, rtol=0, atol=1e-9, err_msg=case)
            print(
                f"{size:>10} {case:>14} {t_ours * 1e3:10.2f} {t_ref * 1e3:16.2f} "
                f"{t_ref / t_ours:8.1f}x  {v_ours:.6f}"
            )
            rows.append(
                (size, case, f"{t_ours * 1e3:.1f}", f"{t_ref * 1e3:.1f}", f"{t_ref / t_ours:.0f}x")
            )
    print("\nall values equal to 1e-9")
    if args.csv:
        write_csv(args.csv, rows)


if __name__ == "__main__":
    main()
