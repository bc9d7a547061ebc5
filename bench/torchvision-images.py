"""The anchor of the images-transform bench: PyTorch's DataLoader over torchvision's ImageFolder, the same
JPEG files and pipeline as lance-loader's (RandomResizedCrop 224, RandomHorizontalFlip, ToTensor,
Normalize), batch 64, shuffled, num_workers as given. Prints one JSON line: images/s, and CPU time per
image of the process and its worker processes (what an image costs, whatever share of the cores the
machine's other jobs leave).

    /usr/bin/python3 bench/torchvision-images.py ROOT --workers 2 --cache warm|cold [--max-seconds 60]

warm: one untimed epoch (files in the page cache, workers started), then one timed epoch; then the
pipeline's CPU time per image in this process, one thread (and PIL's decode alone).
cold: every file under ROOT evicted (posix_fadvise DONTNEED), then the DataLoader's iterator made (its
workers started) and the epoch read, both timed.
"""
import argparse
import json
import os
import resource
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


def cpu_seconds():
    """CPU time of this process and of its ended (joined) worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def epoch(limit):
    started = time.perf_counter()
    images = 0
    batches = iter(loader)
    for batch, _ in batches:
        images += batch.shape[0]
        if time.perf_counter() - started > limit:
            break
    seconds = time.perf_counter() - started
    # Joins the worker processes, so that their CPU time counts in RUSAGE_CHILDREN.
    batches._shutdown_workers()
    return images, seconds


if args.cache == "warm":
    epoch(args.max_seconds)
else:
    evict(args.root)
cpu = cpu_seconds()
images, seconds = epoch(args.max_seconds)
cpu = cpu_seconds() - cpu


def in_thread_cpu_ms(item, count=300):
    """CPU ms per image of item(i) over `count` evenly spaced images in this process, best of 2."""
    torch.set_num_threads(1)
    picked = range(0, len(dataset), max(1, len(dataset) // count))
    best = float("inf")
    for _ in range(2):
        started = time.process_time()
        for i in picked:
            item(i)
        best = min(best, (time.process_time() - started) * 1000 / len(picked))
    return best


in_thread = {}
if args.cache == "warm":
    in_thread = {
        "inThreadCpuMsPerImage": in_thread_cpu_ms(lambda i: dataset[i]),
        "inThreadDecodeCpuMsPerImage": in_thread_cpu_ms(lambda i: dataset.loader(dataset.samples[i][0])),
    }
print(
    json.dumps(
        {
            "images": images,
            "seconds": seconds,
            "imagesPerSecond": images / seconds,
            "cpuMsPerImage": cpu * 1000 / images,
            "coresUsed": cpu / seconds,
            **in_thread,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
        }
    )
)
