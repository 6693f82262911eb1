"""Throughput of the paper preset's training: skiaa against a hand-written torch loop.

Both train the same network (a paper backbone or any timm model with the paper's two
heads) on the same synthetic uint8 images with the paper preset's settings: the
authors' augmentation (``augment_batch(recipe="paper")``) on the device, their focal
loss plus SmoothL1 (alpha 0.5), SGD with Nesterov momentum, the same batch size, three
augmented passes per epoch, bf16 autocast and channels_last (on by default; both
forced the same way in both). No validation split in either. Prints images/s (training
images, passes included) of both and the ratio skiaa / hand-written. Each is timed
``--repeats`` times, alternating, and the fastest run counts.

The paper's scale needs a GPU::

    PYTHONPATH=src python benchmarks/bench_paper_throughput.py --device cuda \\
        --model tv_efficientnet_b1 --image-size 224 --n-samples 512 --epochs 2

A CPU smoke run at tiny size (proves the script works; CPU numbers say nothing about
GPU throughput)::

    PYTHONPATH=src python benchmarks/bench_paper_throughput.py --device cpu \\
        --model test_resnet --image-size 32 --n-samples 64
"""

import argparse
import time

import numpy as np
import torch

from skiaa.estimators import IMA_MEAN, IMA_STD, MultiTaskDiagnosisClassifier, augment_batch
from skiaa.estimators._base import resolve_device
from skiaa.losses import MultiTaskLoss
from skiaa.nets import MultiTaskNet, create_backbone, feature_dim

PASSES = 3


def hand_written_fit(X, y, iaa, *, model, image_size, batch_size, epochs, device, amp,
                     channels_last, seed):  # fmt: skip
    """A plain torch loop doing what the paper preset's fit does, without skorch."""
    torch.manual_seed(seed)
    backbone = create_backbone(model, image_size=image_size)
    net = MultiTaskNet(backbone, feature_dim(backbone, image_size=image_size), 2,
                       head_init="kaiming").to(device)  # fmt: skip
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                          weight_decay=1e-4)  # fmt: skip
    counts = np.bincount(y, minlength=2)
    weight = torch.tensor(len(y) / (2 * counts), dtype=torch.float32, device=device)
    criterion = MultiTaskLoss(alpha=0.5, weight=weight, focal="paper").to(device)
    mean = torch.tensor(IMA_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMA_STD, device=device).view(1, 3, 1, 1)
    target = np.stack([y.astype(np.float32), iaa.astype(np.float32)], axis=1)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(target))
    gen = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, drop_last=True, generator=gen
    )
    device_type = torch.device(device).type
    net.train()
    losses = []
    for _ in range(epochs):
        for _ in range(PASSES):
            for xb, yb in loader:
                xb, yb = xb.to(device), yb.to(device)
                x = xb.permute(0, 3, 1, 2).float().div_(255.0)
                if x.shape[-1] != image_size:
                    x = torch.nn.functional.interpolate(
                        x, size=(image_size, image_size), mode="bicubic", antialias=True
                    ).clamp_(0, 1)
                x = (augment_batch(x, recipe="paper") - mean) / std
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                opt.zero_grad()
                with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
                    out = net(x)
                loss = criterion(out, yb)
                loss.backward()
                opt.step()
                losses.append(loss.detach())
    return net, torch.stack(losses).float().cpu().numpy()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tv_efficientnet_b1")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--n-samples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-amp", action="store_true", help="no bf16 autocast in either")
    parser.add_argument("--no-channels-last", action="store_true")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    amp, cl = not args.no_amp, not args.no_channels_last
    on_cuda = torch.device(device).type == "cuda"
    rng = np.random.default_rng(0)
    s = args.image_size
    X = rng.integers(0, 256, size=(args.n_samples, s, s, 3), dtype=np.uint8)
    y = np.arange(args.n_samples) % 2
    iaa = rng.uniform(0.4, 1.0, size=args.n_samples)

    for model in args.model.split(","):
        _compare(model, X, y, iaa, args, device, amp, cl, on_cuda)


def _compare(model, X, y, iaa, args, device, amp, cl, on_cuda):
    s = args.image_size
    est = MultiTaskDiagnosisClassifier(
        model=model, image_size=s, batch_size=args.batch_size, max_epochs=args.epochs,
        augment="paper", augment_passes=PASSES, focal="paper", head_init="kaiming",
        alpha=0.5, validation_fraction=None, lr_step_size=None, device=device,
        mixed_precision=amp, channels_last=cl, random_state=0,
    )  # fmt: skip
    finite = {}

    def run_skiaa(epochs):
        est.set_params(max_epochs=epochs).fit(X, y, iaa=iaa)
        losses = np.asarray(est.history_[:, "train_loss"], float)
        finite["skiaa"] = finite.get("skiaa", True) and bool(np.isfinite(losses).all())

    def run_torch(epochs):
        _, losses = hand_written_fit(
            X, y, iaa, model=model, image_size=s, batch_size=args.batch_size,
            epochs=epochs, device=device, amp=amp, channels_last=cl, seed=0,
        )  # fmt: skip
        finite["torch"] = finite.get("torch", True) and bool(np.isfinite(losses).all())

    run_skiaa(1)  # untimed warm-up of each (allocator, cuDNN autotuning, lazy imports)
    run_torch(1)
    times, peak = {"skiaa": [], "torch": []}, {"skiaa": 0, "torch": 0}
    for _ in range(args.repeats):
        for name, fn in (("torch", run_torch), ("skiaa", run_skiaa)):
            if on_cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            fn(args.epochs)
            if on_cuda:
                torch.cuda.synchronize()
                peak[name] = max(peak[name], torch.cuda.max_memory_allocated())
            times[name].append(time.perf_counter() - start)
    # Training images seen: passes over the full batches of each epoch.
    n_images = (args.n_samples // args.batch_size) * args.batch_size * PASSES * args.epochs
    rate = {k: n_images / min(v) for k, v in times.items()}
    print(
        f"device={device} ({torch.cuda.get_device_name() if on_cuda else 'cpu'}), "
        f"torch threads={torch.get_num_threads()}, model={model}, image_size={s}, "
        f"n={args.n_samples}, batch={args.batch_size}, epochs={args.epochs}, passes={PASSES}, "
        f"bf16={amp}, channels_last={cl}"
    )
    for name, label in (("torch", "hand-written torch loop:         "),
                        ("skiaa", "MultiTaskDiagnosisClassifier.fit:")):  # fmt: skip
        memory = f", peak GPU memory {peak[name] / 2**30:.2f} GiB" if on_cuda else ""
        print(f"{label} {rate[name]:8.1f} images/s{memory}, losses finite: {finite[name]}")
    print(f"ratio skiaa / torch:              {rate['skiaa'] / rate['torch']:8.3f}")


if __name__ == "__main__":
    main()
