"""The scikit-learn contract: estimator checks, clone, model selection, metadata routing."""

import re

import numpy as np
import pytest
import sklearn
import torch
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch.callbacks import Callback

from _helpers import fast_params, make_images
from skiaa.estimators import IAARegressor, MultiTaskDiagnosisClassifier

# ----------------------------------------------------------------- estimator checks

# The common checks fit 2-D feature tables with arbitrary targets. The checks
# below fail, each for the reason given, which the test asserts (an error of that
# kind in the failure's chain): a check that starts passing, or fails for
# another reason, fails the test, as a strict xfail would. The behaviour they
# check is tested on images in test_image_contract and test_estimators.py.
_TABLE = (
    ValueError,
    r"these estimators take images, not feature tables|X must be uint8 images",
    "fits a 2-D feature table; these estimators take images and refuse tables",
)
_RANGE = (
    ValueError,
    r"y must be an agreement in \[0, 1\]; out of range at rows",
    "fits regression targets outside [0, 1]; IAARegressor's y is an agreement in [0, 1] "
    "and is checked (naming the rows) before X is looked at",
)
_SPARSE_RANGE = (
    ValueError,
    r"y must be an agreement in \[0, 1\]",
    "fits sparse X with targets outside [0, 1]: y is refused before X is looked at "
    "(sparse images are refused with a TypeError, see test_bad_inputs_raise)",
)
_REGRESSOR_TABLE_CHECKS = {
    "check_estimators_empty_data_messages",
    "check_estimators_nan_inf",
    "check_estimators_pickle",
    "check_fit2d_1sample",
    "check_pipeline_consistency",
}
_COMMON_FAILURES = {
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_empty_data_messages",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_supervised_y_2d",
}
_REGRESSOR_FAILURES = {
    **{
        name: _TABLE if name in _REGRESSOR_TABLE_CHECKS else _RANGE
        for name in _COMMON_FAILURES
        | {
            "check_regressor_data_not_an_array",
            "check_regressors_int",
            "check_regressors_no_decision_function",
            "check_regressors_train",
        }
    },
    "check_estimator_sparse_array": _SPARSE_RANGE,
    "check_estimator_sparse_matrix": _SPARSE_RANGE,
    "check_estimator_sparse_tag": _SPARSE_RANGE,
}
_CLASSIFIER_FAILURES = {
    name: _TABLE
    for name in _COMMON_FAILURES
    | {
        "check_class_weight_classifiers",
        "check_classifier_data_not_an_array",
        "check_classifiers_classes",
        "check_classifiers_one_label",
        "check_classifiers_train",
    }
}


def _expected_failure(estimator, check):
    name = getattr(check, "func", check).__name__
    failures = _REGRESSOR_FAILURES if isinstance(estimator, IAARegressor) else _CLASSIFIER_FAILURES
    return failures.get(name)


def _chain(exc):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


@parametrize_with_checks(
    [IAARegressor(**fast_params()), MultiTaskDiagnosisClassifier(**fast_params())]
)
def test_sklearn_compatible_estimator(estimator, check):
    expected = _expected_failure(estimator, check)
    if expected is None:
        check(estimator)
        return
    exc_type, match, reason = expected
    with pytest.raises(Exception) as info:  # the cause is asserted below
        check(estimator)
    causes = [e for e in _chain(info.value) if isinstance(e, exc_type)]
    assert any(re.search(match, str(e)) for e in causes), (
        f"expected to fail because it {reason}; failed with {info.value!r}"
    )


@pytest.mark.parametrize("cls", [IAARegressor, MultiTaskDiagnosisClassifier])
def test_image_contract(cls):
    """The table-based checks above, redone on images."""
    X, y, iaa = make_images(16)
    target = iaa if cls is IAARegressor else y
    kwargs = {} if cls is IAARegressor else {"iaa": iaa}
    method = "predict" if cls is IAARegressor else "predict_proba"
    est = cls(**fast_params())
    params_before = est.get_params()
    assert est.fit(X, target, **kwargs) is est  # fit returns self
    assert est.get_params() == params_before  # parameters not overwritten
    out = getattr(est, method)(X)
    # Predicting does not change the estimator; it is row-wise (subset and order).
    state = dict(est.__dict__)
    np.testing.assert_array_equal(getattr(est, method)(X), out)
    assert est.__dict__.keys() == state.keys()
    np.testing.assert_allclose(getattr(est, method)(X[:5]), out[:5], atol=1e-6)
    perm = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(getattr(est, method)(X[perm]), out[perm], atol=1e-6)
    # Fit is idempotent; float32/float64 and read-only memory-mapped images work.
    np.testing.assert_array_equal(getattr(est.fit(X, target, **kwargs), method)(X), out)
    as_float = X.transpose(0, 3, 1, 2) / 255.0
    for variant in (as_float, as_float.astype(np.float32)):
        np.testing.assert_allclose(getattr(est, method)(variant), out, atol=1e-5)
    readonly = X.copy()
    readonly.setflags(write=False)
    np.testing.assert_array_equal(getattr(est.fit(readonly, target, **kwargs), method)(X), out)


# ----------------------------------------------------------------- model selection


def test_grid_search_models_and_alpha():
    X, y, iaa = make_images(16)
    clf = MultiTaskDiagnosisClassifier(**fast_params(validation_fraction=None))
    grid = GridSearchCV(
        clf,
        {"model": ["test_resnet", "test_efficientnet", "test_vit"], "alpha": [0.5, 1.0]},
        scoring="balanced_accuracy",
        cv=2,
    )
    grid.fit(X, y, iaa=iaa)
    assert len(grid.cv_results_["params"]) == 6
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_estimator_.model == grid.best_params_["model"]
    assert grid.predict(X).shape == (16,)


# ----------------------------------------------------------------- iaa row alignment

FITS = {}


class FitRecorder(Callback):
    """Records, per fit, the (image id, iaa) rows of the training batches.

    Keyed by name so that the copies clone() makes record into one place.
    """

    def __init__(self, key):
        self.key = key

    def on_train_begin(self, net, **kwargs):
        FITS.setdefault(self.key, []).append([])

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            image_id = batch[0][:, 0, 0, 0].long()  # image i is filled with the value i
            FITS[self.key][-1].append(torch.stack([image_id.float(), batch[1][:, 1]], 1))


def _aligned_data(n=24):
    X = np.repeat(np.arange(n, dtype=np.uint8), 8 * 8 * 3).reshape(n, 8, 8, 3)
    iaa = (np.arange(n) + 1) / 100.0  # iaa of image i is (i + 1) / 100
    y = np.array(["b", "m", "m"] * (n // 3))
    return X, y, iaa


def _run(scenario, clf, X, y, iaa, cv):
    if scenario == "grid":
        GridSearchCV(clf, {"alpha": [0.5]}, cv=cv, refit=False, scoring="accuracy").fit(
            X, y, iaa=iaa
        )
    elif scenario == "cross_validate":
        cross_validate(clf, X, y, cv=cv, params={"iaa": iaa})
    elif scenario == "pipeline":
        pipe = Pipeline([("identity", FunctionTransformer()), ("clf", clf)])
        key = "iaa" if sklearn.get_config()["enable_metadata_routing"] else "clf__iaa"
        cross_validate(pipe, X, y, cv=cv, params={key: iaa})
    elif scenario == "grid_pipeline":
        pipe = Pipeline([("identity", FunctionTransformer()), ("clf", clf)])
        key = "iaa" if sklearn.get_config()["enable_metadata_routing"] else "clf__iaa"
        GridSearchCV(pipe, {"clf__alpha": [0.5]}, cv=cv, refit=False, scoring="accuracy").fit(
            X, y, **{key: iaa}
        )


@pytest.mark.parametrize("routing", [False, True], ids=["no-routing", "routing"])
@pytest.mark.parametrize("scenario", ["grid", "cross_validate", "pipeline", "grid_pipeline"])
def test_iaa_rows_stay_aligned_in_each_fold(scenario, routing):
    X, y, iaa = _aligned_data()
    key = f"{scenario}-{routing}"
    FITS[key] = []
    cv = KFold(3, shuffle=True, random_state=0)
    params = fast_params(
        image_size=8, validation_fraction=None, augment=False, callbacks=[FitRecorder(key)]
    )
    with sklearn.config_context(enable_metadata_routing=routing):
        clf = MultiTaskDiagnosisClassifier(**params)
        if routing:
            clf.set_fit_request(iaa=True)
        _run(scenario, clf, X, y, iaa, cv)
    fits = FITS[key]
    folds = list(cv.split(X))
    assert len(fits) == len(folds)
    for rows, (train, _) in zip(fits, folds):
        rows = torch.cat(rows).numpy()
        image_id = rows[:, 0].astype(int)
        # Each image was trained with its own iaa ...
        np.testing.assert_allclose(rows[:, 1], iaa[image_id].astype(np.float32), rtol=1e-6)
        # ... and exactly the fold's training rows were used.
        np.testing.assert_array_equal(np.sort(image_id), np.sort(train))


def test_routing_without_request_is_an_error():
    X, y, iaa = _aligned_data()
    with sklearn.config_context(enable_metadata_routing=True):
        clf = MultiTaskDiagnosisClassifier(**fast_params(image_size=8))
        with pytest.raises(sklearn.exceptions.UnsetMetadataPassedError):
            cross_validate(clf, X, y, cv=2, params={"iaa": iaa})
