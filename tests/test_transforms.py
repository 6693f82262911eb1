"""The augmentation recipes against torchvision's own transforms, image by image, and
the preprocessing's precision."""

import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TVF

from skiaa.estimators import IMA_MEAN, IMA_STD, augment_batch
from skiaa.estimators._transforms import ImagePreprocess


def _replay(x, p, recipe, seed):
    # Draw the per-image decisions in the order augment_batch documents (rotation,
    # hflip, vflip, autocontrast, blur, sharpness), then build each image with the
    # authors' torchvision transforms, one image at a time.
    n = x.shape[0]
    torch.manual_seed(seed)
    k = torch.randint(0, 4, (n,))
    hflip, vflip, contrast = (torch.rand(n) < p for _ in range(3))
    if recipe == "paper":
        sigma, blur = 0.1, torch.ones(n, dtype=torch.bool)
    else:
        sigma = float(torch.empty(1).uniform_(0.1, 2.0))
        blur = torch.rand(n) < p
    sharp = torch.rand(n) < p
    out = []
    for i in range(n):
        img = torch.rot90(x[i], int(k[i]), dims=(-2, -1))
        img = TVF.hflip(img) if hflip[i] else img
        img = TVF.vflip(img) if vflip[i] else img
        img = TVF.autocontrast(img) if contrast[i] else img
        img = T.GaussianBlur((5, 5), sigma=(sigma, sigma))(img) if blur[i] else img
        img = TVF.adjust_sharpness(img, 2.0) if sharp[i] else img
        out.append(img)
    return torch.stack(out)


@pytest.mark.parametrize("recipe", ["paper", "skiaa"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_augmentation_equals_torchvision_per_image(recipe, seed):
    gen = torch.Generator().manual_seed(100 + seed)
    x = torch.rand(12, 3, 16, 16, generator=gen)
    x[0] = 0.3  # a constant image: autocontrast must leave it alone
    expected = _replay(x, 0.5, recipe, seed)
    torch.manual_seed(seed)
    got = augment_batch(x, recipe=recipe)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_augment_batch_does_not_modify_its_input_and_keeps_the_range():
    x = torch.rand(8, 3, 12, 12)
    before = x.clone()
    out = augment_batch(x, p=1.0, recipe="paper")
    assert torch.equal(x, before)
    assert out.min() >= 0 and out.max() <= 1


def test_paper_recipe_always_blurs_with_sigma_point_one():
    # p=0 leaves only the rotations and the always-on blur; sigma 0.1 over a 5-wide
    # kernel weighs the neighbours by exp(-50): the image is unchanged to float precision.
    x = torch.rand(6, 3, 10, 10)
    torch.manual_seed(0)
    k = torch.randint(0, 4, (6,))
    torch.manual_seed(0)
    out = augment_batch(x, p=0.0, recipe="paper")
    for i in range(6):
        torch.testing.assert_close(out[i], torch.rot90(x[i], int(k[i]), dims=(-2, -1)))


def test_each_step_is_applied_to_about_p_of_the_images():
    # A horizontal gradient shows each flip; with p=0.3 about 30% of 2000 images flip.
    n = 2000
    ramp = torch.linspace(0.1, 0.9, 8)
    x = ramp.expand(n, 1, 8, 8).clone()
    x = torch.cat([x, x, x], dim=1)
    torch.manual_seed(0)
    out = augment_batch(x[..., :7], p=0.3)  # not square: no rotation
    flipped = (out[:, 0, 0, 0] > out[:, 0, 0, -1]).float().mean().item()
    assert flipped == pytest.approx(0.3, abs=0.04)


def test_unknown_recipe_is_refused():
    with pytest.raises(ValueError, match="recipe must be one of"):
        augment_batch(torch.rand(2, 3, 8, 8), recipe="authors")


def test_any_channel_count_is_augmented_channel_by_channel():
    # torchvision's autocontrast and sharpness take 1 or 3 channels; skiaa takes any
    # count, each channel treated as the single-channel image it is for torchvision.
    x = torch.rand(6, 5, 12, 12)
    torch.manual_seed(3)
    got = augment_batch(x, p=1.0, recipe="paper")
    torch.manual_seed(3)
    k = torch.randint(0, 4, (6,))
    for i in range(6):
        for c in range(5):
            img = torch.rot90(x[i, c : c + 1], int(k[i]), dims=(-2, -1))
            img = TVF.autocontrast(TVF.vflip(TVF.hflip(img)))
            img = TVF.adjust_sharpness(T.GaussianBlur((5, 5), sigma=(0.1, 0.1))(img), 2.0)
            torch.testing.assert_close(got[i, c : c + 1], img, rtol=0, atol=1e-6)


def test_preprocessing_normalises_in_the_dtype_of_its_module():
    # A model built in float64 gets float64 inputs computed in float64 from the
    # start, not float32 intensities widened afterwards.
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8, generator=gen)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        pre64 = ImagePreprocess(None, IMA_MEAN, IMA_STD)
    finally:
        torch.set_default_dtype(previous)
    mean = torch.tensor(IMA_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(IMA_STD, dtype=torch.float64).view(1, 3, 1, 1)
    want = (x.double() / 255 - mean) / std
    assert torch.equal(pre64(x), want)
    out = ImagePreprocess(None, IMA_MEAN, IMA_STD)(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, want.float())
