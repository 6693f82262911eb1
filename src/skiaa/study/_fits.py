"""The study's fits as independent joblib tasks, spread over cores, GPUs or a Dask cluster.

Every fit of the training steps (an IAA regression per model and fold or run, a
diagnosis fit per model, alpha and fold, a baseline per feature set, an
external fine-tune per model, alpha and fold) is one :class:`_FitTask`: a
module-level function with every input explicit (a picklable ``spec`` and the
shared arrays), so joblib's backends run it unchanged in this process, in
local worker processes (loky) or on the workers of a Dask cluster. The study
does not own a scheduler.

A step is planned as a :class:`_StepPlan` (its stored result, or the fits that
make it and how to assemble them); :func:`_run_fits` runs the fits of every
plan in one pool, storing each fit's result as soon as it arrives (a killed
run resumes with the finished fits read back), and the plans then assemble
their results from the fits in task order, so the numbers do not depend on
which worker finished first.
"""

import contextlib
import dataclasses
import os
import socket
import time

from ..utils import progress
from ._store import _clean, _StepStore


@dataclasses.dataclass(frozen=True)
class _FitTask:
    """One fit: ``func(spec, device, arrays)`` returns a JSON-safe dict.

    ``settings`` and ``inputs`` key the fit's stored result: the step's key
    plus the fit's place in it, so a fit is never reused for a changed step.
    """

    name: str
    func: object
    spec: dict
    settings: dict
    inputs: dict

    @classmethod
    def of_step(cls, plan_name, part, func, spec, settings, inputs):
        """The fit ``part`` (``"fold=0"``) of the step ``plan_name``, keyed by the step's key."""
        name = f"{plan_name}/{part}"
        return cls(name, func, spec, {**settings, "fit": part}, inputs)

    @classmethod
    def per_fold(cls, plan_name, func, params, folds, seeds, settings, inputs, **spec):
        """One fit per fold or run: ``params`` with the fold's seed, its rows, ``spec``."""
        return [
            cls.of_step(plan_name, f"fold={k}", func,
                        {"params": {**params, "random_state": seed},
                         "train": train, "test": test, **spec},
                        settings, inputs)
            for k, ((train, test), seed) in enumerate(zip(folds, seeds))
        ]  # fmt: skip


class _StepPlan:
    """One stored step result: read back from ``store``, or assembled from fits.

    Parameters
    ----------
    store : _StepStore
        The step store.
    name, settings, inputs
        The step's key (see :meth:`_StepStore.get`).
    tasks : callable
        Returns the step's :class:`_FitTask` list; called only on a miss.
    assemble : callable
        ``assemble(fits)`` -> the step's result, from the fits' results in
        the order of ``tasks``.
    """

    def __init__(self, store, name, settings, inputs, tasks, assemble):
        self.store, self.name, self.settings, self.inputs = store, name, settings, inputs
        self.result = store.get(name, settings, inputs)
        self.tasks = tasks() if self.result is None else []
        self._assemble = assemble

    def finish(self, fits):
        """Assemble and store the result from ``fits`` (one per task, in order)."""
        if self.result is None:
            result = self._assemble([fits[task.name] for task in self.tasks])
            self.result = self.store.put(self.name, self.settings, self.inputs, result)
        return self.result


class _FitStore(_StepStore):
    """The results of single fits, under ``OUT/steps/fits``, keyed like steps."""

    def __init__(self, out_dir, force):
        super().__init__(out_dir, force)
        self.dir = self.dir / "fits"
        self.dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.dir.glob(".*.tmp"):  # of a killed run, as in the step store
            leftover.unlink(missing_ok=True)


# ------------------------------------------------------------------ the spread
@dataclasses.dataclass(frozen=True)
class _Spread:
    """How a run spreads its fits: backend, workers, devices, torch threads."""

    backend: str  # "sequential", "loky" or "dask"
    n_workers: int | None  # None: every worker of the Dask cluster
    devices: tuple | None  # local devices leased one fit at a time, or None
    scheduler: str | None
    torch_num_threads: int

    def to_dict(self):
        return dataclasses.asdict(self)


def _resolve_spread(config, *, n_cpus, n_cuda, default_threads):
    """The :class:`_Spread` of ``config`` on a machine with ``n_cpus`` and ``n_cuda``.

    Parameters
    ----------
    config : StudyConfig
        ``n_jobs``, ``device``, ``devices``, ``scheduler``, ``torch_num_threads``.
    n_cpus : int
        Usable CPU cores (:func:`joblib.cpu_count`).
    n_cuda : int
        Visible CUDA devices.
    default_threads : int
        torch's thread count of this process, shared out between local workers
        when ``config.torch_num_threads`` is None.

    Returns
    -------
    spread : _Spread
    """
    n_jobs = config.n_jobs
    if config.scheduler is not None:
        # Dask starts its workers with one OpenMP thread; each fit runs on one worker.
        threads = config.torch_num_threads or 1
        return _Spread("dask", None, None, config.scheduler, threads)
    devices = config.devices
    if devices is None and n_jobs != 1 and config.device in ("auto", "cuda") and n_cuda > 1:
        devices = tuple(f"cuda:{i}" for i in range(n_cuda))
    if devices:
        # One fit per device at a time: more workers than devices would only wait.
        n_workers = len(devices) if n_jobs == -1 else min(n_jobs, len(devices))
    else:
        n_workers = n_cpus if n_jobs == -1 else n_jobs
    threads = config.torch_num_threads or max(1, default_threads // n_workers)
    backend = "sequential" if n_workers == 1 else "loky"
    return _Spread(backend, n_workers, devices, None, threads)


# ------------------------------------------------------------------ the workers
def _execute(task, device, pool, threads, **arrays):
    """Run one fit in a worker (or this process) on ``device`` or one leased from ``pool``."""
    import joblib
    from threadpoolctl import threadpool_limits

    if pool is not None:
        device = pool.get()  # blocks until a device is free: one fit per device at a time
    start = time.perf_counter()
    try:
        # BLAS and OpenMP sums depend on their thread count too (the baselines' PCA):
        # the same limit in every worker and in this process keeps the numbers equal.
        # A fit is one task: joblib calls inside it (cross_validate's) stay in this
        # process; on a Dask worker they would otherwise become tasks of their own,
        # copying the fold scorer that keeps the predictions.
        with threadpool_limits(limits=threads), joblib.parallel_config(backend="sequential"):
            result = dict(task.func(task.spec, device, arrays))
    finally:
        if pool is not None:
            pool.put(device)
    result["seconds"] = seconds = time.perf_counter() - start
    where = {"device": device, "host": socket.gethostname(), "pid": os.getpid(),
             "seconds": seconds}  # fmt: skip
    return task.name, _clean(result), where


@contextlib.contextmanager
def _device_pool(spread):
    """A queue of the local devices, shared by the workers, or None."""
    if not spread.devices:
        yield None
        return
    if spread.backend == "sequential":
        import queue

        pool = queue.Queue()
        for device in spread.devices:
            pool.put(device)
        yield pool
        return
    import multiprocessing

    with multiprocessing.Manager() as manager:
        pool = manager.Queue()
        for device in spread.devices:
            pool.put(device)
        yield pool


@contextlib.contextmanager
def _passive_openmp():
    """Start local workers with ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it.

    Spinning OpenMP threads on cores that other processes (other workers, other
    jobs) use slow every fit down many times; sleeping ones do not, and how
    threads wait does not change a number. Only processes started meanwhile
    read it: this process's OpenMP is already loaded.
    """
    if "OMP_WAIT_POLICY" in os.environ:
        yield
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        yield
    finally:
        os.environ.pop("OMP_WAIT_POLICY", None)


@contextlib.contextmanager
def _backend(spread, arrays):
    """joblib's configuration for ``spread``: loky locally, or the Dask cluster."""
    import joblib

    if spread.backend != "dask":
        with _passive_openmp(), joblib.parallel_config(backend="loky"):
            yield spread.n_workers  # n_jobs=1 runs in this process
        return
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(
            f"scheduler={spread.scheduler!r} needs dask's distributed package: "
            "pip install 'skiaa[dask]'"
        ) from None
    with Client(spread.scheduler, set_as_default=True) as client:
        # The images (and targets) go to every worker once, not with every task.
        with joblib.parallel_config(backend="dask", scatter=list(arrays.values())):
            yield -1
        del client


def _run_fits(plans, arrays, store, spread, config, verbose):
    """Run the fits of ``plans`` in one pool, store each as it arrives, finish the plans.

    Parameters
    ----------
    plans : list of _StepPlan
    arrays : dict of str to array
        The data every fit may read (images, targets, external images),
        passed to joblib as arguments: memory-mapped into local workers,
        scattered once to a Dask cluster.
    store : _FitStore
    spread : _Spread
    config : StudyConfig
        Its ``device`` is the device of every fit unless the spread leases
        local devices.
    verbose : int
        A progress bar over all fits when truthy.

    Returns
    -------
    summary : dict
        How the fits were spread, for ``results.json``.
    """
    from sklearn.utils.parallel import Parallel, delayed

    tasks = [task for plan in plans for task in plan.tasks]
    fits, reused, where = {}, [], {}
    for task in tasks:
        result = store.get(task.name, task.settings, task.inputs)
        if result is not None:
            fits[task.name] = result
            reused.append(task.name)
    todo = [task for task in tasks if task.name not in fits]
    bar = progress(verbose=verbose, desc="Fits", total=len(tasks), unit="fit")
    bar.update(len(reused))
    try:
        if todo:
            with _device_pool(spread) as pool, _backend(spread, arrays) as n_jobs:
                device = None if pool is not None else config.device
                threads = spread.torch_num_threads
                calls = (delayed(_execute)(t, device, pool, threads, **arrays) for t in todo)
                by_name = {t.name: t for t in todo}
                results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(calls)
                try:
                    for name, result, place in results:
                        task = by_name[name]
                        fits[name] = store.put(name, task.settings, task.inputs, result)
                        where[name] = place
                        bar.update(1)
                finally:
                    results.close()  # on Ctrl-C or an error: joblib stops every worker
    finally:
        bar.close()
    for plan in plans:
        plan.finish(fits)
    return {**spread.to_dict(), "n_fits": len(tasks), "reused_fits": reused, "fits": where}
