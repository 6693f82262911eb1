"""The paper's 13 torchvision backbones: timm models giving torchvision's features.

Each test builds a randomly initialised torchvision model (statistics and scales
perturbed, so that a wrong mapping, eps or pooling shows), takes its features the
way the authors' code does (classifier replaced by an identity; VGG16-BN: conv
features and an average pool), saves its state dict and loads it into skiaa's
backbone of the same name.
"""

import pytest
import torch
import torchvision.models as tvm
from torch import nn

from skiaa.nets import (
    PAPER_BACKBONES,
    PAPER_DEFAULT_BACKBONES,
    IAANet,
    MultiTaskNet,
    PaperHead,
    check_model_name,
    create_backbone,
    feature_dim,
    torchvision_checkpoint,
)

# Small enough for the default run; the others (large or slow on a CPU) are slow.
FAST = {"tv_resnet18", "tv_mobilenet_v3_large", "tv_efficientnet_b0"}


def _perturb(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.running_mean.normal_(0, 0.2, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
        for name, p in model.named_parameters():
            if name.endswith(("layer_scale", "class_token")) or p.dim() == 1:
                p.add_(torch.randn(p.shape, generator=gen) * 0.2)


def _torchvision_features(spec):
    model = getattr(tvm, spec.torchvision)(weights=None)
    if spec.torchvision.startswith("vgg"):
        feats = nn.Sequential(model.features, nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        return model, feats
    for attr in ("fc", "classifier", "head"):
        if hasattr(model, attr):
            setattr(model, attr, nn.Identity())
            break
    else:
        model.heads.head = nn.Identity()
    return model, nn.Sequential(model, nn.Flatten(1))


def _params(name):
    marks = () if name in FAST else (pytest.mark.slow,)
    return pytest.param(name, marks=marks)


@pytest.mark.parametrize("name", [_params(n) for n in PAPER_BACKBONES])
def test_torchvision_checkpoint_gives_torchvision_features(name, tmp_path):
    spec = PAPER_BACKBONES[name]
    gen = torch.Generator().manual_seed(0)
    model, features = _torchvision_features(spec)
    _perturb(model, gen)
    path = tmp_path / f"{spec.torchvision}.pth"
    # The full state dict, as torchvision ships it (the classifier is ignored).
    full = getattr(tvm, spec.torchvision)(weights=None).state_dict()
    torch.save(full | model.state_dict(), path)
    backbone = create_backbone(name, weights=path).eval()
    features.eval()
    x = torch.randn(2, 3, spec.image_size, spec.image_size, generator=gen)
    with torch.no_grad():
        want = features(x)
        got = backbone(x)
    assert want.shape == (2, spec.features)
    assert feature_dim(backbone, image_size=spec.image_size) == spec.features
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    # Normalisation constants too (an eps of 1e-5 for 1e-3 hardly shows in outputs).
    eps = [(type(m).__name__, m.eps) for m in model.modules() if hasattr(m, "eps")]
    own = [(type(m).__name__, m.eps) for m in backbone.modules() if hasattr(m, "eps")]
    assert sorted({e for _, e in own}) == sorted({e for _, e in eps})


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    torch.save(tvm.efficientnet_b0(weights=None).state_dict(), tmp_path / "b0.pth")
    with pytest.raises(ValueError, match="loading by position fails"):
        create_backbone("tv_mobilenet_v3_large", weights=tmp_path / "b0.pth")
    torch.save(tvm.resnet18(weights=None).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(ValueError, match="not a checkpoint of this architecture"):
        create_backbone("tv_convnext_tiny", weights=tmp_path / "r18.pth")
    torch.save(tvm.resnet50(weights=None).state_dict(), tmp_path / "r50.pth")
    with pytest.raises(ValueError, match="another architecture"):
        create_backbone("tv_resnet18", weights=tmp_path / "r50.pth")


def test_paper_names_are_known_and_pretrained_asks_for_torchvision_weights():
    assert len(PAPER_BACKBONES) == 13
    assert set(PAPER_DEFAULT_BACKBONES) <= set(PAPER_BACKBONES)
    assert check_model_name("tv_swin_v2_t") == "tv_swin_v2_t"
    assert PAPER_BACKBONES["tv_swin_v2_t"].image_size == 256
    with pytest.raises(ValueError, match="Did you mean: .*tv_resnet18"):
        check_model_name("tv_resnet_18")


def _no_network(monkeypatch):
    """Any attempt to reach a server fails the test."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network touched: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.mark.parametrize("name", ["tv_resnet18", "tv_efficientnet_b0"])
def test_pretrained_loads_torchvision_checkpoint_from_the_hub_cache(name, tmp_path, monkeypatch):
    # The authors' pretrained=True is torchvision's IMAGENET1K_V1, kept by torchvision
    # in $TORCH_HOME/hub/checkpoints under the URL's file name.
    spec = PAPER_BACKBONES[name]
    assert spec.weights == tvm.get_model_weights(spec.torchvision).IMAGENET1K_V1
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    gen = torch.Generator().manual_seed(1)
    model, features = _torchvision_features(spec)
    _perturb(model, gen)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    official = folder / spec.weights.url.rsplit("/", 1)[1]
    full = getattr(tvm, spec.torchvision)(weights=None).state_dict()
    torch.save(full | model.state_dict(), official)
    assert torchvision_checkpoint(name, download=False) == official
    _no_network(monkeypatch)
    backbone = create_backbone(name, pretrained=True).eval()
    x = torch.randn(2, 3, 64, 64, generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(backbone(x), features.eval()(x), rtol=1e-4, atol=1e-4)


def test_pretrained_offline_without_the_file_names_file_folder_and_weights(tmp_path, monkeypatch):
    from skiaa import nets

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(nets, "_hub_reachable", lambda *a, **k: False)
    _no_network(monkeypatch)
    with pytest.raises(ValueError) as info:
        create_backbone("tv_resnet18", pretrained=True)
    message = str(info.value)
    for part in ("resnet18-f37072fd.pth", str(tmp_path / "hub" / "checkpoints"),
                 "--weights tv_resnet18=PATH"):  # fmt: skip
        assert part in message, part
    assert not (tmp_path / "hub" / "checkpoints").exists()  # nothing written


def _block_drop_rates(model):
    """Stochastic-depth probability of each residual block, in order (0: none)."""
    from timm.layers import DropPath
    from torchvision.ops import StochasticDepth

    rates = []
    for m in model.modules():
        for attr in ("stochastic_depth", "drop_path", "drop_path1"):
            layer = getattr(m, attr, None)
            if isinstance(layer, nn.Module) and not isinstance(m, (DropPath, StochasticDepth)):
                p = getattr(layer, "p", getattr(layer, "drop_prob", 0.0))
                rates.append(float(p))
                break
    return rates


@pytest.mark.parametrize("name", [_params(n) for n in PAPER_BACKBONES])
def test_stochastic_depth_is_torchvisions_block_by_block(name):
    spec = PAPER_BACKBONES[name]
    want = _block_drop_rates(getattr(tvm, spec.torchvision)(weights=None))
    got = _block_drop_rates(create_backbone(name))
    if not any(want):  # ResNets, DenseNet, VGG, MobileNets, ViT: none in torchvision
        assert not any(got)
    else:
        assert got == pytest.approx(want, abs=1e-6)


def test_kaiming_head_init_has_zero_biases_and_kaiming_scale():
    torch.manual_seed(0)
    head = PaperHead(512, 2, init="kaiming")
    first, last = head[0], head[-1]
    assert torch.count_nonzero(first.bias) == 0 and torch.count_nonzero(last.bias) == 0
    # Kaiming normal, fan-in, ReLU gain: std = sqrt(2 / fan_in).
    assert first.weight.std().item() == pytest.approx((2 / 512) ** 0.5, rel=0.05)
    default = PaperHead(512, 2)
    assert torch.count_nonzero(default[0].bias) > 0
    backbone = create_backbone("test_resnet")
    dim = feature_dim(backbone)
    net = MultiTaskNet(backbone, dim, n_classes=2, head_init="kaiming")
    assert torch.count_nonzero(net.iaa_head[-1].bias) == 0
    assert torch.count_nonzero(IAANet(backbone, dim, head_init="kaiming").head[0].bias) == 0
    with pytest.raises(ValueError, match="init must be one of"):
        PaperHead(8, 1, init="xavier")
