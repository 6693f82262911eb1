"""FeatureExtractor: features, normalisation, caching, pipelines (tiny models, CPU)."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import skiaa
from skiaa.estimators import IMA_MEAN, IMA_STD, FeatureExtractor, clear_feature_cache
from skiaa.nets import create_backbone

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# What test_resnet's own weights were trained with (timm's pretrained_cfg); the
# extractor uses a model's pretrained_cfg statistics, ImageNet's for resnet18 & co.
CFG = timm.create_model("test_resnet").pretrained_cfg
WEIGHTS_MEAN, WEIGHTS_STD = tuple(CFG["mean"]), tuple(CFG["std"])


def fast(**overrides):
    params = dict(model="test_resnet", image_size=32, random_state=0, batch_size=8)
    params.update(overrides)
    return params


def images(n=12, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


@pytest.fixture(autouse=True)
def _empty_cache():
    clear_feature_cache()
    yield
    clear_feature_cache()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    # An ImageNet-like checkpoint with a classifier the backbone does not have.
    torch.manual_seed(1)
    model = timm.create_model("test_resnet", num_classes=10)
    path = tmp_path_factory.mktemp("w") / "test_resnet.pth"
    torch.save(model.state_dict(), path)
    return path


def reference_features(X, weights, mean, std, size=32):
    backbone = create_backbone("test_resnet", weights=weights).eval()
    x = torch.from_numpy(X).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", antialias=True)
        x = x.clamp(0, 1)
    x = (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    with torch.no_grad():
        return backbone(x).numpy()


def test_lazy_top_level_export():
    assert skiaa.FeatureExtractor is FeatureExtractor
    assert "FeatureExtractor" in skiaa.__all__


def test_imagenet_models_default_to_imagenet_statistics():
    from skiaa.estimators._transforms import default_norm_stats

    for name in ("resnet18", "efficientnet_lite0"):
        backbone = timm.create_model(name, pretrained=False, num_classes=0)
        assert default_norm_stats(backbone, True) == (IMAGENET_MEAN, IMAGENET_STD)
        assert default_norm_stats(backbone, False) == (IMA_MEAN, IMA_STD)


def test_features_are_the_backbones_with_the_weights_statistics(weights):
    X = images()
    fx = FeatureExtractor(**fast(weights=weights))
    out = fx.fit_transform(X)
    assert out.shape == (12, fx.n_features_out_) and out.dtype == np.float32
    assert (fx.mean_, fx.std_) == (WEIGHTS_MEAN, WEIGHTS_STD) != (IMA_MEAN, IMA_STD)
    ref = reference_features(X, weights, WEIGHTS_MEAN, WEIGHTS_STD)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    # The wrong statistics give other features: the default matters.
    wrong = reference_features(X, weights, IMA_MEAN, IMA_STD)
    assert not np.allclose(out, wrong, atol=1e-3)


def test_random_backbone_uses_imaplusplus_statistics_and_explicit_ones_win(weights):
    X = images(4)
    assert FeatureExtractor(**fast()).fit(X).mean_ == IMA_MEAN
    fx = FeatureExtractor(**fast(weights=weights, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)))
    out = fx.fit_transform(X)
    ref = reference_features(X, weights, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_resizes_like_the_estimators(weights):
    X = images(5, size=48)
    out = FeatureExtractor(**fast(weights=weights)).fit_transform(X)
    ref = reference_features(X, weights, WEIGHTS_MEAN, WEIGHTS_STD, size=32)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_batching_does_not_change_features(weights):
    X = images(11)
    one = FeatureExtractor(**fast(weights=weights, batch_size=64, cache=None)).fit_transform(X)
    many = FeatureExtractor(**fast(weights=weights, batch_size=3, cache=None)).fit_transform(X)
    np.testing.assert_allclose(one, many, rtol=1e-5, atol=1e-6)


def test_memory_cache_is_shared_by_clones_and_keyed_on_content(weights):
    X = images(10)
    fx = FeatureExtractor(**fast(weights=weights)).fit(X)
    first = fx.transform(X)
    assert (fx.n_computed_, fx.n_cached_) == (10, 0)
    twin = clone(fx).fit(X)
    np.testing.assert_array_equal(twin.transform(X), first)
    assert (twin.n_computed_, twin.n_cached_) == (0, 10)
    # One changed pixel: that image only is recomputed, and its features are new.
    X2 = X.copy()
    X2[3, 0, 0, 0] ^= 0xFF
    changed = twin.transform(X2)
    assert (twin.n_computed_, twin.n_cached_) == (1, 9)
    assert not np.array_equal(changed[3], first[3])
    np.testing.assert_array_equal(np.delete(changed, 3, 0), np.delete(first, 3, 0))


def test_cache_is_keyed_on_weights_content_and_settings(weights, tmp_path):
    X = images(6)
    base = FeatureExtractor(**fast(weights=weights)).fit(X)
    feats = base.transform(X)
    # Same file name, other content: nothing may be served from the cache.
    torch.manual_seed(2)
    other = tmp_path / weights.name
    torch.save(timm.create_model("test_resnet", num_classes=10).state_dict(), other)
    fx = FeatureExtractor(**fast(weights=other)).fit(X)
    assert not np.allclose(fx.transform(X), feats)
    assert fx.n_cached_ == 0
    for change in (dict(image_size=24), dict(mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))):
        fx = FeatureExtractor(**fast(weights=weights, **change)).fit(X)
        fx.transform(X)
        assert fx.n_cached_ == 0, change


def test_folder_cache_survives_processes_and_corrupt_files_are_recomputed(weights, tmp_path):
    X = images(5)
    cache = tmp_path / "features"
    fx = FeatureExtractor(**fast(weights=weights, cache=cache)).fit(X)
    feats = fx.transform(X)
    files = sorted(cache.rglob("*.npy"))
    assert len(files) == 5
    clear_feature_cache()  # a new process has an empty memory cache
    again = FeatureExtractor(**fast(weights=weights, cache=str(cache))).fit(X)
    np.testing.assert_array_equal(again.transform(X), feats)
    assert again.n_cached_ == 5
    files[0].write_bytes(b"not a numpy file")
    files[1].write_bytes(files[1].read_bytes()[:40])  # truncated
    np.testing.assert_array_equal(again.transform(X), feats)
    assert (again.n_computed_, again.n_cached_) == (2, 3)
    assert all(np.load(f).shape == (fx.n_features_out_,) for f in files)
    assert not list(cache.rglob("*.tmp.npy"))


def test_full_disk_in_the_folder_cache_names_the_file(weights, tmp_path, monkeypatch):
    import errno

    from skiaa.utils import OutputFolderError

    X = images(3)
    cache = tmp_path / "features"
    fx = FeatureExtractor(**fast(weights=weights, cache=cache)).fit(X)
    real = np.save

    def save(path, value, **kwargs):
        Path(path).write_bytes(b"\x93NUMPY half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", save)
    with pytest.raises(
        OutputFolderError, match=r"cannot write the feature cache file \w+\.npy in "
    ) as info:
        fx.transform(X)
    assert "No space left on device" in str(info.value)
    assert not list(cache.rglob("*.npy"))  # no temporary file left
    monkeypatch.setattr(np, "save", real)
    clear_feature_cache()
    expected = FeatureExtractor(**fast(weights=weights, cache=None)).fit(X).transform(X)
    np.testing.assert_array_equal(fx.transform(X), expected)


def test_no_cache(weights):
    X = images(4)
    fx = FeatureExtractor(**fast(weights=weights, cache=None)).fit(X)
    fx.transform(X)
    fx.transform(X)
    assert (fx.n_computed_, fx.n_cached_) == (4, 0)


def test_random_initialisation_is_seeded_and_cached_only_with_an_int_seed():
    X = images(4)
    a = FeatureExtractor(**fast(random_state=3)).fit_transform(X)
    b = FeatureExtractor(**fast(random_state=3, cache=None)).fit_transform(X)
    c = FeatureExtractor(**fast(random_state=4)).fit_transform(X)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not np.allclose(a, c)
    fx = FeatureExtractor(**fast(random_state=None)).fit(X)
    fx.transform(X)
    fx.transform(X)
    assert fx.n_cached_ == 0


def test_paths_give_the_arrays_features_and_changed_files_are_not_stale(weights, tmp_path):
    X = images(4)
    paths = []
    for i, img in enumerate(X):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(img).save(path)
        paths.append(str(path))
    fx = FeatureExtractor(**fast(weights=weights)).fit(paths)
    np.testing.assert_allclose(fx.transform(paths), fx.transform(X), rtol=1e-6)
    Image.fromarray(255 - X[0]).save(paths[0])
    st = os.stat(paths[0])
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    new = fx.transform(paths)
    np.testing.assert_allclose(new[0], fx.transform(255 - X[:1])[0], rtol=1e-6)


def test_linear_probe_pipeline_in_gridsearch_runs_each_backbone_once_per_image():
    y = np.array([0, 1] * 12)
    X = images(24)
    X[y == 1, :16] = np.clip(X[y == 1, :16].astype(int) // 3, 0, 255).astype(np.uint8)
    pipe = make_pipeline(FeatureExtractor(**fast()), LogisticRegression())
    calls = []
    original = FeatureExtractor._forward

    def counting(self, batch):
        calls.append(len(batch))
        return original(self, batch)

    FeatureExtractor._forward = counting
    try:
        search = GridSearchCV(
            pipe,
            {
                "logisticregression__C": [0.1, 1.0],
                "featureextractor__model": ["test_resnet", "test_efficientnet"],
            },
            cv=StratifiedKFold(3, shuffle=True, random_state=0),
        )
        search.fit(X, y)
    finally:
        FeatureExtractor._forward = original
    # 2 architectures x 24 images, whatever the number of folds and C values.
    assert sum(calls) == 2 * 24
    assert search.best_score_ > 0.5
    assert search.predict(X[:3]).shape == (3,)


def test_channels_mismatch_and_unfitted():
    from sklearn.exceptions import NotFittedError

    fx = FeatureExtractor(**fast())
    with pytest.raises(NotFittedError):
        fx.transform(images(2))
    fx.fit(images(2))
    gray = np.random.default_rng(0).random((2, 1, 32, 32)).astype(np.float32)
    with pytest.raises(ValueError, match="1 channels, but FeatureExtractor was fitted on 3"):
        fx.transform(gray)


def test_wrong_mean_length_and_bad_std():
    with pytest.raises(ValueError, match="mean/std have 2/3 values"):
        FeatureExtractor(**fast(mean=(0.5, 0.5), std=(1, 1, 1))).fit(images(2))
    with pytest.raises(ValueError, match="std must be positive"):
        FeatureExtractor(**fast(mean=(0.5,) * 3, std=(1, 0, 1))).fit(images(2))


def test_pickle_round_trip_and_feature_names(weights):
    X = images(3)
    fx = FeatureExtractor(**fast(weights=weights, cache=None)).fit(X)
    loaded = pickle.loads(pickle.dumps(fx))
    np.testing.assert_array_equal(loaded.transform(X), fx.transform(X))
    names = fx.get_feature_names_out()
    assert len(names) == fx.n_features_out_ and names[0] == "test_resnet_0"
    frame = fx.set_output(transform="pandas").transform(X)
    assert list(frame.columns) == list(names)


def test_torch_num_threads_is_restored():
    before = torch.get_num_threads()
    fx = FeatureExtractor(**fast(torch_num_threads=1, cache=None)).fit(images(2))
    fx.transform(images(2))
    assert torch.get_num_threads() == before


@pytest.mark.gpu
def test_cuda_features_match_cpu(weights):
    X = images(6)
    cpu = FeatureExtractor(**fast(weights=weights, cache=None, device="cpu")).fit_transform(X)
    gpu = FeatureExtractor(**fast(weights=weights, cache=None, device="cuda")).fit_transform(X)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-3)


# ----------------------------------------------------------------- estimator checks
# With ``two_d_array=False`` scikit-learn runs only the checks that need no data
# table; the behaviour on images is covered by the tests above.
@parametrize_with_checks([FeatureExtractor(**fast())])
def test_sklearn_compatible_transformer(estimator, check):
    check(estimator)
