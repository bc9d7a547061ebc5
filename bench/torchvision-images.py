"""The anchor of the images-transform bench: PyTorch's DataLoader over torchvision's ImageFolder, the same
JPEG files and pipeline as lance-loader's (RandomResizedCrop 224, RandomHorizontalFlip, ToTensor,
Normalize), batch 64, shuffled, num_workers as given. Prints one JSON line.

    /usr/bin/python3 bench/torchvision-images.py ROOT --workers 2 --cache warm|cold [--max-seconds 60]

warm: one untimed epoch (files in the page cache, workers started), then one timed epoch.
cold: every file under ROOT evicted (posix_fadvise DONTNEED), then the DataLoader's iterator made (its
workers started) and the epoch read, both timed.
"""
import argparse
import json
import os
import sys
import time

try:
    import torch
    import torchvision
    from torchvision import datasets, transforms
except ImportError as error:  # the bench reports the anchor as skipped
    print(json.dumps({"skipped": f"torch/torchvision not importable: {error}"}))
    sys.exit(0)

parser = argparse.ArgumentParser()
parser.add_argument("root")
parser.add_argument("--workers", type=int, default=2)
parser.add_argument("--cache", choices=["warm", "cold"], default="warm")
parser.add_argument("--max-seconds", type=float, default=60)
args = parser.parse_args()

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
pipeline = transforms.Compose(
    [
        transforms.RandomResizedCrop(224),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ]
)
dataset = datasets.ImageFolder(args.root, transform=pipeline)
loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True, num_workers=args.workers)


def evict(root):
    for directory, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)


def epoch(limit):
    started = time.perf_counter()
    images = 0
    for batch, _ in loader:
        images += batch.shape[0]
        if time.perf_counter() - started > limit:
            break
    return images, time.perf_counter() - started


if args.cache == "warm":
    epoch(args.max_seconds)
else:
    evict(args.root)
images, seconds = epoch(args.max_seconds)
print(
    json.dumps(
        {
            "images": images,
            "seconds": seconds,
            "imagesPerSecond": images / seconds,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
        }
    )
)
