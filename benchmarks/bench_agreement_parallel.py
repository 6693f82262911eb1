"""AgreementTransformer with n_jobs=1 against n_jobs=2, at a small and at the IMA++ scale.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_agreement_parallel.py [--repeat 3]

Each scale is 120 images with 162 pairs (99 images with 2 masks, 21 with 3, as
in a multi-annotator subset), lesion-like masks of 128x128 (small) or
1024x1024 (IMA++ scale), all 8 default metrics with mean and std. Measured
side by side on the same masks: ``n_jobs=1``, ``n_jobs=2`` (threads over
batches of images, what the transformer does) and, as the baseline it
replaced, one process task per image on joblib's default backend (whole
stacks pickled to the workers). Each timing is the best of ``--repeat`` runs
after a warm-up; the outputs are checked identical before ratios are printed.

On a machine with fewer than 2 free cores the n_jobs=2 figure cannot show a
gain; it must still not lose.
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from skiaa import AgreementTransformer
from skiaa.agreement import DEFAULT_METRICS

sys.path.insert(0, str(Path(__file__).parent))
from bench_agreement import lesion_mask

STATS = ("mean", "std")


def make_images(side, n_images=120, n_triples=21, seed=0):
    """120 images' mask stacks: 2 masks each, 3 for ``n_triples`` of them (162 pairs)."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n_images):
        k = 3 if i < n_triples else 2
        centre = (side * rng.uniform(0.45, 0.55), side * rng.uniform(0.45, 0.55))
        radii = (side * rng.uniform(0.2, 0.3), side * rng.uniform(0.25, 0.35))
        stack = [
            lesion_mask(
                side,
                side,
                centre=(centre[0] + rng.normal(0, side / 100), centre[1]),
                radii=(radii[0] * rng.uniform(0.9, 1.1), radii[1] * rng.uniform(0.9, 1.1)),
                angle=rng.uniform(0, 0.3),
                seed=int(rng.integers(1 << 30)),
            )
            for _ in range(k)
        ]
        images.append(np.stack(stack))
    return images


def _one_image(masks):
    return AgreementTransformer(metrics=DEFAULT_METRICS, statistics=STATS).transform([masks])


def per_image_processes(images, n_jobs):
    """The replaced scheme: one task per image on joblib's default (process) backend."""
    rows = Parallel(n_jobs=n_jobs)(delayed(_one_image)(m) for m in images)
    return np.vstack(rows)


def timed(func, repeat):
    value = func()
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        value = func()
        best = min(best, time.perf_counter() - start)
    return best, value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--sides", nargs="+", type=int, default=[128, 1024])
    parser.add_argument(
        "--no-processes", action="store_true", help="skip the (slow) process-per-image baseline"
    )
    args = parser.parse_args(argv)
    print(
        f"numpy {np.__version__}, python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"best of {args.repeat} runs after a warm-up; all 8 metrics, mean and std\n")
    print(
        f"{'scale':>12} {'n_jobs=1 s':>11} {'n_jobs=2 s':>11} {'1/2 ratio':>10} "
        f"{'processes s':>12} {'1/proc':>7}"
    )
    for side in args.sides:
        images = make_images(side)
        n_pairs = sum(len(m) * (len(m) - 1) // 2 for m in images)

        def run(n_jobs, images=images):
            t = AgreementTransformer(metrics=DEFAULT_METRICS, statistics=STATS, n_jobs=n_jobs)
            return t.fit_transform(images)

        t1, v1 = timed(lambda: run(1), args.repeat)
        t2, v2 = timed(lambda: run(2), args.repeat)
        # Threads run the very same arithmetic: identical to the last bit.
        np.testing.assert_array_equal(v1, v2)
        if args.no_processes:
            tp = np.nan
        else:
            tp, vp = timed(lambda images=images: per_image_processes(images, 2), args.repeat)
            # Other processes may round sums differently in the last bit (numpy's
            # SIMD reductions); equal to 1e-12.
            np.testing.assert_allclose(v1, vp, rtol=1e-12, atol=0)
        label = f"{side}x{side}"
        print(
            f"{label:>12} {t1:11.3f} {t2:11.3f} {t1 / t2:9.2f}x {tp:12.3f} {t1 / tp:6.2f}x"
            f"   ({len(images)} images, {n_pairs} pairs)"
        )
    print("\noutputs identical across n_jobs (and equal to 1e-12 with processes)")


if __name__ == "__main__":
    main()
