"""Scale-out on a Dask cluster through joblib's ``"dask"`` backend (``skiaa[dask]``).

The cluster tests start a ``LocalCluster`` of 2 worker processes (1 thread each) and
check that GridSearchCV over architectures and the AgreementTransformer give, on
the cluster, exactly what they give in this process. They are skipped when dask or
distributed is not installed; ``tox -e dask`` installs both and runs this file.

Exact equality needs the same number of torch threads on both sides: CPU kernels
split their reductions by thread, so 1 and 2 threads differ in the last bits
(about 1e-6 in a score after one epoch). Dask starts each worker with
``OMP_NUM_THREADS=1`` (``distributed.nanny.pre-spawn-environ``); the local
reference runs with ``torch.set_num_threads(1)`` too.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from skorch.exceptions import DeviceWarning

import skiaa
from _study_release import TINY, numbers
from skiaa import AgreementTransformer, IAARegressor, MultiTaskDiagnosisClassifier, make_lesions
from skiaa.study import StudyConfig, run_study

FAST = dict(
    image_size=32,
    max_epochs=1,
    batch_size=8,
    augment_passes=1,
    validation_fraction=None,
    random_state=0,
)
# Architectures, as in a real search, plus a learning rate so that candidates differ.
GRID = {"model": ["test_resnet", "test_efficientnet"], "lr": [0.01, 0.05]}


@pytest.fixture(scope="module")
def lesions():
    data = make_lesions(32, image_size=32, random_state=0)
    iaa = AgreementTransformer().fit_transform(data.masks)[:, 0]
    return data, iaa


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("dask", reason="the cluster tests need skiaa[dask]")
    distributed = pytest.importorskip("distributed", reason="the cluster tests need skiaa[dask]")
    # The workers are new processes: they must import the skiaa this process
    # imported, also when it runs from a source checkout (PYTHONPATH=src).
    skiaa_root = str(Path(skiaa.__file__).resolve().parents[1])
    pythonpath = os.pathsep.join(p for p in (skiaa_root, os.environ.get("PYTHONPATH")) if p)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # Dask's default already; explicit because the equality tests rely on it.
            env={"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"},
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture
def one_torch_thread():
    """Run the local reference with the workers' single torch thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _on_cluster(client, func):
    """``func()`` under the dask joblib backend, and the workers that ran tasks."""
    from distributed import get_task_stream

    with get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        result = func()
    return result, {task["worker"] for task in stream.data}


def _assert_same_search(local, dist):
    assert dist.best_params_ == local.best_params_
    for key in local.cv_results_:
        if key.startswith(("split", "mean_test", "std_test", "rank_test")):
            np.testing.assert_array_equal(dist.cv_results_[key], local.cv_results_[key], key)


@pytest.mark.dask
def test_grid_search_over_architectures_on_cluster_equals_local_run(
    client, lesions, one_torch_thread
):
    data, iaa = lesions
    search = GridSearchCV(IAARegressor(**FAST), GRID, cv=2)
    local = search.set_params(n_jobs=1).fit(data.images, iaa)
    scores = local.cv_results_["mean_test_score"]
    # The candidates must differ, or the comparison of best_params_ says nothing.
    assert len(np.unique(scores)) == len(scores)

    dist, workers = _on_cluster(
        client,
        lambda: GridSearchCV(IAARegressor(**FAST), GRID, cv=2, n_jobs=-1).fit(data.images, iaa),
    )
    assert len(workers) == 2, "the fits did not run on both workers"
    _assert_same_search(local, dist)
    np.testing.assert_array_equal(
        dist.best_estimator_.predict(data.images), local.best_estimator_.predict(data.images)
    )


@pytest.mark.dask
def test_multitask_grid_search_routes_iaa_on_cluster(client, lesions, one_torch_thread):
    # ``iaa`` is a fit parameter: GridSearchCV slices it per fold before the
    # tasks are shipped, so each worker's fit sees its rows' IAA.
    data, iaa = lesions
    params = dict(FAST, model="test_resnet", alpha=0.5)
    grid = {"alpha": [0.5, 1.0]}

    def search(n_jobs):
        return GridSearchCV(
            MultiTaskDiagnosisClassifier(**params),
            grid,
            cv=2,
            scoring="neg_log_loss",
            n_jobs=n_jobs,
        ).fit(data.images, data.diagnosis, iaa=iaa)

    local = search(1)
    dist, workers = _on_cluster(client, lambda: search(-1))
    assert workers
    _assert_same_search(local, dist)


@pytest.mark.dask
def test_agreement_transformer_on_cluster_equals_serial(client, lesions):
    data, _ = lesions
    params = dict(metrics=("dice", "hd95", "assd"), statistics=("mean", "std", "min"))
    serial = AgreementTransformer(**params, n_jobs=1).fit_transform(data.masks)
    dist, workers = _on_cluster(
        client, lambda: AgreementTransformer(**params, n_jobs=-1).fit_transform(data.masks)
    )
    assert workers
    np.testing.assert_array_equal(dist, serial)


@pytest.mark.dask
def test_device_auto_resolves_on_the_worker_that_fits(client, lesions):
    # The estimator travels to the worker holding the string "auto"; the device
    # is chosen there, in fit, so each worker uses its own GPU (or its CPU).
    data, iaa = lesions
    est = IAARegressor(**dict(FAST, model="test_resnet"))
    fitted = client.submit(est.fit, data.images[:8], iaa[:8], pure=False).result()
    worker_device = client.run(lambda: "cuda" if torch.cuda.is_available() else "cpu")
    assert set(worker_device.values()) == {fitted.device_}
    assert fitted.get_params()["device"] == "auto"
    assert est.get_params()["device"] == "auto"


def _fitted_as_if_on_gpu(estimator, X, *fit_args):
    """``estimator`` fitted on the CPU whose pickle says it was trained on CUDA.

    On a CPU-only machine the weights cannot be on a GPU, but what unpickling
    reads is the recorded device: skorch maps "cuda" to the CPU when CUDA is
    absent, which is the path a GPU-trained model takes on a CPU-only client.
    """
    estimator.fit(X, *fit_args)
    estimator.device_ = "cuda"
    estimator.net_.device = "cuda"
    estimator.net_.autocast = True  # what mixed_precision="auto" chose on CUDA
    return estimator


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the mapping to a CPU-only host")
@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_gpu_trained_estimator_predicts_on_cpu_only_host(lesions, kind, one_torch_thread):
    data, iaa = lesions
    X = data.images[:12]
    if kind == "regressor":
        est, args, predict = IAARegressor(**FAST), (iaa[:12],), "predict"
    else:
        est = MultiTaskDiagnosisClassifier(**FAST)
        args, predict = (data.diagnosis[:12], iaa[:12]), "predict_proba"
    reference = getattr(est.fit(X, *args), predict)(X)  # fp32 on the CPU
    est = _fitted_as_if_on_gpu(est, X, *args)

    with pytest.warns(DeviceWarning) as record:
        restored = pickle.loads(pickle.dumps(est))
    assert any("no CUDA devices are available" in str(w.message) for w in record)

    assert restored.device_ == "cpu"
    assert str(restored.net_.device) == "cpu"
    # mixed_precision="auto" means CUDA only: no bf16 autocast on the CPU, so the
    # predictions are the fp32 ones, bit for bit.
    assert not restored.net_.autocast
    np.testing.assert_array_equal(getattr(restored, predict)(X), reference)


@pytest.mark.gpu
def test_gpu_fitted_estimator_unpickles_in_a_process_without_cuda(lesions, tmp_path):
    data, iaa = lesions
    est = IAARegressor(**dict(FAST, device="cuda", mixed_precision=False)).fit(data.images, iaa)
    assert est.device_ == "cuda"
    # TF32 convolutions and matmuls (on by default for cuDNN) would differ from the
    # CPU's float32 by ~1e-3; without them only the summation order differs.
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        on_gpu = est.predict(data.images)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    joblib.dump(est, tmp_path / "model.joblib")
    np.save(tmp_path / "images.npy", data.images)
    code = (
        "import joblib, numpy as np, warnings\n"
        "warnings.simplefilter('ignore')\n"
        f"est = joblib.load({str(tmp_path / 'model.joblib')!r})\n"
        "assert est.device_ == 'cpu', est.device_\n"
        f"np.save({str(tmp_path / 'pred.npy')!r}, "
        f"est.predict(np.load({str(tmp_path / 'images.npy')!r})))\n"
    )
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(skiaa.__file__).resolve().parents[1]), env.get("PYTHONPATH")) if p
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), on_gpu, atol=1e-4)


def test_study_on_cluster_equals_local_run(client, tmp_path, monkeypatch):
    # Every kind of fit (regression, diagnosis, baseline, external fine-tune) on the
    # workers, one torch thread each as in the local run: the same numbers, exactly.
    import distributed

    settings = dict(TINY, torch_num_threads=1, external=(("synthetic", None),), n_external=24)
    settings["finetune_epochs"] = 1
    scattered, scatter = [], distributed.Client.scatter

    def record(self, data, *args, **kwargs):
        scattered.append(data)
        return scatter(self, data, *args, **kwargs)

    monkeypatch.setattr(distributed.Client, "scatter", record)
    address = client.scheduler.address
    dist = run_study(tmp_path / "dask", StudyConfig(**settings, scheduler=address), verbose=0)
    monkeypatch.undo()
    local = run_study(tmp_path / "local", StudyConfig(**settings), verbose=0)

    def study(results):
        return numbers({k: v for k, v in results.items() if k != "config"})

    assert study(dist) == study(local)
    spread = dist["parallel"]
    assert (spread["backend"], spread["scheduler"]) == ("dask", address)
    worker_pids = set(client.run(os.getpid).values())
    assert {fit["pid"] for fit in spread["fits"].values()} <= worker_pids
    assert spread["n_fits"] == len(spread["fits"]) == 11
    # The images went to the cluster once, in one scatter, not with each of the 11 tasks.
    image_sets = [
        [x.shape for x in data if getattr(x, "ndim", 0) == 4]
        for data in scattered
        if isinstance(data, (list, tuple))
    ]
    image_sets = [shapes for shapes in image_sets if shapes]
    assert len(image_sets) == 1 and len(image_sets[0]) == 2, scattered  # IMA++, external
    assert image_sets[0][0] == (48, 32, 32, 3)
    assert not [data for data in scattered if getattr(data, "ndim", 0) == 4]
