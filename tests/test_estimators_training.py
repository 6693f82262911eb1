"""The training logic of the estimators: batches, splits, best epoch, weights, threads.

Each test here catches a one-line bug that trains on the wrong rows or keeps the
wrong weights while every output still looks plausible.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GridSearchCV, KFold
from skorch.callbacks import Callback

from _helpers import fast_params, make_images
from skiaa.estimators import ChanceLevelWarning, IAARegressor, MultiTaskDiagnosisClassifier
from skiaa.estimators._base import TrainBatches, TrainLoader

STORES = {}


class RecordTraining(Callback):
    """Records every training batch's targets in ``STORES[key]`` (shared by clones)."""

    def __init__(self, key):
        self.key = key

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            STORES.setdefault(self.key, []).append(torch.as_tensor(batch[1]).clone())


def recorder(key):
    STORES[key] = []
    return RecordTraining(key), STORES[key]


def learnable_images(n=32, size=32, seed=0):
    """Images whose class shows in their brightness, with distinct IAA per row."""
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    X = rng.integers(0, 120, size=(n, size, size, 3)).astype(np.uint8)
    X[y == 1] += 120
    iaa = rng.permutation(np.linspace(0.3, 1.0, n))
    return X, y, iaa


# ----------------------------------------------------------------- batches of >= 2 rows


@pytest.mark.parametrize("batch_size", [2, 3, 8, 16, 32])
@pytest.mark.parametrize("shuffle", [False, True])
def test_training_batches_never_hold_one_row(batch_size, shuffle):
    for n in range(1, 71):
        gen = torch.Generator().manual_seed(n)
        loader = TrainLoader(list(range(n)), batch_size=batch_size, shuffle=shuffle, generator=gen)
        batches = [b.tolist() for b in loader]
        sizes = [len(b) for b in batches]
        # Every row once per epoch, no batch of one row unless there is one row ...
        assert sorted(i for b in batches for i in b) == list(range(n)), n
        assert min(sizes) >= 2 or n == 1, (n, sizes)
        # ... and the batches are batch_size rows but the last (at most one more).
        assert all(s == batch_size for s in sizes[:-1]), (n, sizes)
        assert sizes[-1] <= batch_size + 1
        assert len(loader) == len(batches)


def test_train_loader_keeps_the_shuffled_order_of_a_dataloader():
    # Merging a remainder must not change which rows an epoch sees in which order.
    data = list(range(37))
    ours = TrainLoader(
        data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(3)
    )
    ref = torch.utils.data.DataLoader(
        data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(3)
    )
    assert torch.cat(list(ours)).tolist() == torch.cat(list(ref)).tolist()


def test_merged_remainder_batches():
    assert [len(b) for b in TrainBatches(range(17), 8)] == [8, 9]
    assert [len(b) for b in TrainBatches(range(18), 8)] == [8, 8, 2]
    assert [len(b) for b in TrainBatches(range(1), 8)] == [1]


@pytest.mark.parametrize(
    ("n", "params", "rows_per_epoch"),
    [
        (13, dict(batch_size=32, augment_passes=3, validation_fraction=0.1), 33),  # 11 * 3
        (13, dict(batch_size=4, augment_passes=1, validation_fraction=None), 13),  # 3 * 4 + 1
        (9, dict(batch_size=8, augment=False, validation_fraction=None), 9),  # 8 + 1
    ],
)
def test_fits_whose_last_batch_would_hold_one_row(n, params, rows_per_epoch):
    # Each size leaves a remainder of one row: it must join the previous batch,
    # neither crash the heads' BatchNorm nor be dropped from the epoch.
    X, y, iaa = make_images(n + n % 2)
    X, y, iaa = X[:n], y[:n], iaa[:n]
    for estimator, fit_params in (
        (IAARegressor, {}),
        (MultiTaskDiagnosisClassifier, {"iaa": iaa}),
    ):
        callback, batches = recorder(f"one-row-{estimator.__name__}-{n}")
        est = estimator(**fast_params(**params, callbacks=[callback]))
        est.fit(X, iaa if estimator is IAARegressor else y, **fit_params)
        sizes = [len(b) for b in batches]
        assert min(sizes) >= 2, sizes
        assert sum(sizes) == rows_per_epoch, sizes
        pred = est.predict(X)
        assert len(pred) == n
        if estimator is IAARegressor:
            assert np.isfinite(pred).all()


def test_issue_reproduction_13_images_default_passes():
    # IAARegressor(model="test_resnet", image_size=32, max_epochs=1).fit(X13, y13)
    # crashed with "Expected more than 1 value per channel when training".
    X, _, iaa = make_images(14)
    reg = IAARegressor(model="test_resnet", image_size=32, max_epochs=1, random_state=0)
    assert reg.fit(X[:13], iaa[:13]).predict(X[:13]).shape == (13,)


def test_grid_search_refit_on_48_images_batch_16():
    X, _, iaa = make_images(48)
    params = fast_params(batch_size=16, augment_passes=3, validation_fraction=None)
    params.pop("max_epochs")
    search = GridSearchCV(
        IAARegressor(**params), {"max_epochs": [1]}, cv=KFold(3), scoring="neg_mean_absolute_error"
    )
    # 48 rows * 3 passes = 144 = 9 * 16: folds of 32 * 3 = 96 rows are fine; the refit on
    # all 48 is fine too; with validation_fraction=0.1 the refit has 43 * 3 = 129 rows.
    search.fit(X, iaa)
    search.set_params(estimator__validation_fraction=0.1).fit(X, iaa)
    assert search.best_estimator_.predict(X).shape == (48,)


# ----------------------------------------------------------------- splits


def test_regressor_never_trains_on_validation_rows():
    X, _, iaa = learnable_images(16)
    cb, store = recorder("disjoint")
    reg = IAARegressor(
        **fast_params(validation_fraction=0.25, max_epochs=2, augment_passes=2, callbacks=[cb])
    ).fit(X, iaa)
    valid = reg.net_.train_split.valid_idx
    assert len(valid) == 4
    seen = np.unique(torch.cat(store).numpy().ravel())
    train_rows = np.setdiff1d(np.arange(16), valid)
    # The IAA values are distinct per row: the rows trained on are exactly the others.
    np.testing.assert_array_equal(seen, np.sort(iaa[train_rows].astype(np.float32)))


@pytest.mark.parametrize("seed", range(8))
def test_classifier_validation_split_is_stratified_and_rounded_up(seed):
    X, y, iaa = learnable_images(16)
    clf = MultiTaskDiagnosisClassifier(**fast_params(max_epochs=0, random_state=seed))
    clf.fit(X, y, iaa=iaa)
    valid = clf.net_.train_split.valid_idx
    assert len(valid) == 2  # ceil(0.1 * 16), not int(1.6)
    assert sorted(y[valid]) == [0, 1]
    imbalanced = np.array([0] * 12 + [1] * 4)
    clf.set_params(validation_fraction=0.25).fit(X, imbalanced, iaa=iaa)
    valid = clf.net_.train_split.valid_idx
    assert np.bincount(imbalanced[valid]).tolist() == [3, 1]


def test_validation_split_without_a_class_is_warned_once_by_name():
    # 2 "rare" rows in 16, 2 validation rows: the stratified split holds no "rare".
    X, _, iaa = learnable_images(16)
    y = np.array(["common"] * 14 + ["rare"] * 2)
    clf = MultiTaskDiagnosisClassifier(**fast_params(max_epochs=3))
    with pytest.warns(UserWarning) as record:
        clf.fit(X, y, iaa=iaa)
    messages = [str(w.message) for w in record]
    ours = [m for m in messages if "validation split" in m]
    assert ours == [
        "The validation split (2 of 16 rows) holds no sample of class 'rare': the best epoch "
        "is chosen on the other classes alone. Use a larger validation_fraction, or "
        "validation_fraction=None to keep the last epoch."
    ]
    assert not [m for m in messages if "single label" in m or "not in y_true" in m], messages
    # Attributed to the user's line, not to skiaa's or scikit-learn's frames.
    assert [w.filename for w in record if "validation split" in str(w.message)] == [__file__]
    assert set(y[clf.net_.train_split.valid_idx]) == {"common"}
    # Every class in the validation rows: no warning.
    balanced = np.array(["common", "rare"] * 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # One epoch on 12 rows need not learn; this is about the split's warning.
        warnings.simplefilter("ignore", ChanceLevelWarning)
        clf.set_params(max_epochs=1).fit(X, balanced, iaa=iaa)


# ----------------------------------------------------------------- a fit that learned nothing


@pytest.mark.parametrize(
    ("validation_fraction", "rows"), [(0.25, "all 8 validation images"), (None, "32 training")]
)
def test_diverged_classifier_warns_and_names_the_settings(validation_fraction, rows):
    # SGD at lr 1000 blows the weights up in one epoch: the kept model predicts
    # one class for every image, which a score would report as a result.
    X, y, iaa = learnable_images(32)
    clf = MultiTaskDiagnosisClassifier(
        **fast_params(optimizer="sgd", lr=1e3, validation_fraction=validation_fraction)
    )
    with pytest.warns(ChanceLevelWarning) as record:
        clf.fit(X, y, iaa=iaa)
    ours = [w for w in record if issubclass(w.category, ChanceLevelWarning)]
    assert len(ours) == 1 and ours[0].filename == __file__
    message = str(ours[0].message)
    assert message.startswith("MultiTaskDiagnosisClassifier did not learn: it predicts ")
    assert rows in message and "(balanced accuracy 0.500, chance 0.500)" in message
    assert "lr=1000 with optimizer 'sgd', freeze_bn=False, head_warmup_epochs=0" in message
    assert len(set(clf.predict(X))) == 1  # what the warning says
    assert issubclass(ChanceLevelWarning, ConvergenceWarning)


def test_classifier_that_learns_does_not_warn():
    X, y, iaa = learnable_images(32)
    clf = MultiTaskDiagnosisClassifier(
        **fast_params(max_epochs=6, validation_fraction=0.25, lr=0.05, lr_step_size=None)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChanceLevelWarning)
        clf.fit(X, y, iaa=iaa)
    valid = clf.net_.train_split.valid_idx
    assert balanced_accuracy_score(y[valid], clf.predict(X[valid])) > 0.5


# ----------------------------------------------------------------- best epoch, weights


def test_classifier_restores_its_best_epoch():
    X, y, iaa = learnable_images(32)
    clf = MultiTaskDiagnosisClassifier(
        **fast_params(max_epochs=6, validation_fraction=0.25, lr=0.05, lr_step_size=None)
    ).fit(X, y, iaa=iaa)
    baccs = np.asarray(clf.history_[:, "valid_bacc"])
    assert len(set(baccs.round(6))) > 1, baccs  # otherwise best and worst are the same epoch
    assert clf.best_epoch_ == int(np.argmax(baccs)) + 1
    valid = clf.net_.train_split.valid_idx
    restored = balanced_accuracy_score(y[valid], clf.predict(X[valid]))
    assert restored == pytest.approx(baccs.max())


def test_class_weights_reach_the_loss():
    X, _, iaa = learnable_images(16)
    y = np.array(["a"] * 12 + ["b"] * 4)
    clf = MultiTaskDiagnosisClassifier(**fast_params(validation_fraction=None, max_epochs=0))
    clf.fit(X, y, iaa=iaa)
    np.testing.assert_allclose(clf.class_weight_, [16 / 24, 16 / 8])
    weight = clf.net_.criterion_.focal.weight
    np.testing.assert_allclose(weight.cpu().numpy(), clf.class_weight_)
    # Balanced weights come from the training rows only.
    clf.set_params(validation_fraction=0.25).fit(X, y, iaa=iaa)
    train = np.setdiff1d(np.arange(16), clf.net_.train_split.valid_idx)
    counts = np.unique(y[train], return_counts=True)[1]
    np.testing.assert_allclose(clf.class_weight_, len(train) / (2 * counts), rtol=1e-6)
    np.testing.assert_allclose(clf.net_.criterion_.focal.weight.numpy(), clf.class_weight_)


@pytest.mark.parametrize("cls", [IAARegressor, MultiTaskDiagnosisClassifier])
def test_iaa_head_bias_comes_from_the_training_rows(cls):
    X, y, iaa = learnable_images(16)
    iaa = np.where(np.arange(16) < 4, 0.0, iaa)  # far-off rows, some in validation
    for seed in range(4):
        est = cls(**fast_params(max_epochs=0, validation_fraction=0.25, random_state=seed))
        est.fit(X, iaa) if cls is IAARegressor else est.fit(X, y, iaa=iaa)
        valid = est.net_.train_split.valid_idx
        train = np.setdiff1d(np.arange(16), valid)
        net = est.net_.module_.net
        bias = (net.head if cls is IAARegressor else net.iaa_head)[-1].bias.item()
        assert bias == pytest.approx(iaa[train].astype(np.float32).mean(), rel=1e-6)
        if not np.isclose(iaa[train].mean(), iaa.mean()):
            assert bias != pytest.approx(iaa.mean(), rel=1e-6)


# ----------------------------------------------------------------- threads


@pytest.fixture
def two_torch_threads():
    """torch at 2 threads in this process (as without OMP_NUM_THREADS=1), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_torch_num_threads_is_set_during_fit_and_restored(two_torch_threads):
    X, _, iaa = make_images(16)
    seen = []

    class Threads(Callback):
        def on_batch_begin(self, net, **kwargs):
            seen.append(torch.get_num_threads())

    reg = IAARegressor(**fast_params(torch_num_threads=1, callbacks=[Threads()])).fit(X, iaa)
    assert set(seen) == {1}
    assert torch.get_num_threads() == 2
    reg.predict(X)
    assert torch.get_num_threads() == 2


def _grid_scores(n_jobs, **params):
    X, _, iaa = make_images(16)
    est = IAARegressor(**fast_params(validation_fraction=None, **params))
    search = GridSearchCV(
        est,
        {"lr": [0.05]},
        cv=KFold(2),
        scoring="neg_mean_absolute_error",
        n_jobs=n_jobs,
        refit=False,
    )
    return search.fit(X, iaa).cv_results_["split0_test_score"]


def test_results_do_not_depend_on_the_callers_thread_count():
    # What makes n_jobs irrelevant (below), checked in this process: the caller's
    # torch thread count does not reach fit/predict when torch_num_threads is set.
    X, _, iaa = make_images(16)
    before = torch.get_num_threads()
    preds = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            reg = IAARegressor(**fast_params(torch_num_threads=1)).fit(X, iaa)
            preds.append(reg.predict(X))
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(preds[0], preds[1])


@pytest.mark.slow  # starting joblib's workers (torch imports) takes long on 2 busy cores
def test_grid_search_n_jobs_1_equals_n_jobs_2_with_torch_num_threads(two_torch_threads):
    # This process runs torch with 2 threads, joblib's 2 workers with 1 each
    # (cpu_count // n_jobs on 2 cores); torch_num_threads=1 makes them agree.
    np.testing.assert_array_equal(
        _grid_scores(1, torch_num_threads=1), _grid_scores(2, torch_num_threads=1)
    )


@pytest.mark.slow
def test_grid_search_n_jobs_equal_with_two_threads_per_fit():
    # Each fit with 2 threads, in this process and in both workers (oversubscribed
    # on 2 cores: slow, hence marked slow).
    np.testing.assert_array_equal(
        _grid_scores(1, torch_num_threads=2), _grid_scores(2, torch_num_threads=2)
    )
