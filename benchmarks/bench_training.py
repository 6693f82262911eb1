"""Time ``IAARegressor.fit`` against a hand-written PyTorch training loop.

Both train the same timm backbone with the paper's head on the same uint8
images, with the same batch size, optimiser (SGD, Nesterov momentum 0.9, weight
decay 1e-4), SmoothL1 loss, per-batch uint8 -> normalised float conversion, and,
on CUDA, the same bf16 autocast and channels_last. Augmentation and the
validation split are off in both so that the comparison is of the training loop
itself (skorch's overhead plus skiaa's). Prints images/s of both and the ratio
(skiaa / hand-written; the target is >= 0.95 on CPU). Each is timed
``--repeats`` times, alternating, and the fastest run counts: on a shared
machine single runs vary by a factor of two.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_training.py
    PYTHONPATH=src python benchmarks/bench_training.py --model resnet18 --image-size 224 \
        --n-samples 512 --epochs 2 --device cuda
"""

import argparse
import time

import numpy as np
import torch
from torch.nn import functional as F

from skiaa import IAARegressor
from skiaa.estimators import IMA_MEAN, IMA_STD
from skiaa.estimators._base import resolve_device
from skiaa.nets import IAANet, create_backbone, feature_dim


def hand_written_fit(X, y, *, model, batch_size, epochs, device, amp, channels_last, seed):
    """A plain torch loop doing what IAARegressor.fit does, without skorch."""
    torch.manual_seed(seed)
    backbone = create_backbone(model)
    net = IAANet(backbone, feature_dim(backbone)).to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(
        net.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4
    )
    mean = torch.tensor(IMA_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMA_STD, device=device).view(1, 3, 1, 1)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y[:, None]))
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    device_type = torch.device(device).type
    net.train()
    for _ in range(epochs):
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            x = xb.permute(0, 3, 1, 2).float().div_(255.0)
            x = (x - mean) / std
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            opt.zero_grad()
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
                out = net(x)
            loss = F.smooth_l1_loss(out.float(), yb)
            loss.backward()
            opt.step()
    return net


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--n-samples", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="timed runs of each, alternated; the fastest is reported",
    )
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    on_cuda = torch.device(device).type == "cuda"
    rng = np.random.default_rng(0)
    s = args.image_size
    X = rng.integers(0, 256, size=(args.n_samples, s, s, 3), dtype=np.uint8)
    y = rng.uniform(0.4, 1.0, size=args.n_samples).astype(np.float32)

    est = IAARegressor(
        model=args.model,
        image_size=s,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        augment=False,
        validation_fraction=None,
        device=device,
        random_state=0,
    )

    def run_skiaa():
        est.fit(X, y)

    def run_torch():
        hand_written_fit(
            X,
            y,
            model=args.model,
            batch_size=args.batch_size,
            epochs=args.epochs,
            device=device,
            amp=on_cuda,
            channels_last=on_cuda,
            seed=0,
        )

    # One untimed warm-up of each (allocator, cuDNN autotuning, lazy imports).
    est.set_params(max_epochs=1)
    run_skiaa()
    hand_written_fit(
        X[: args.batch_size * 2],
        y[: args.batch_size * 2],
        model=args.model,
        batch_size=args.batch_size,
        epochs=1,
        device=device,
        amp=on_cuda,
        channels_last=on_cuda,
        seed=0,
    )
    est.set_params(max_epochs=args.epochs)

    times = {"skiaa": [], "torch": []}
    for _ in range(args.repeats):
        for name, fn in (("torch", run_torch), ("skiaa", run_skiaa)):
            if on_cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if on_cuda:
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)

    n_images = args.n_samples * args.epochs
    rate = {k: n_images / min(v) for k, v in times.items()}
    print(
        f"device={device} ({torch.cuda.get_device_name() if on_cuda else 'cpu'}), "
        f"torch threads={torch.get_num_threads()}, model={args.model}, "
        f"image_size={s}, n={args.n_samples}, batch={args.batch_size}, epochs={args.epochs}"
    )
    print(f"hand-written torch loop: {rate['torch']:8.1f} images/s")
    print(f"IAARegressor.fit:        {rate['skiaa']:8.1f} images/s")
    print(f"ratio skiaa / torch:     {rate['skiaa'] / rate['torch']:8.3f}")


if __name__ == "__main__":
    main()
