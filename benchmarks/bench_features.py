"""How fast AlexNetFeatureExtractor turns JPEG files into pool5 features, against a plain loop.

Reuses bench_data.py's N synthetic 500x375 JPEGs (written once, then kept in ``--folder``) and
prints:

1. images/s from JPEG files to pool5 features at ``--image-size`` (227) of
   ``AlexNetFeatureExtractor(weights=None, layer='pool5').fit(paths).transform(paths)``, and of
   the same network written directly in PyTorch (``_peer_torch.py``) behind a plain Pillow loop,
   in each variant a PyTorch user would try (float32 NCHW and channels-last, and bfloat16
   autocast where the CPU has it natively), timed in the same process, round by round in
   alternating order; ratio skalexnet/fastest peer (target: >= 1.2). Random weights: weights do
   not change the speed.
2. peak resident memory (``ru_maxrss``, measured in a fresh process) of extracting the pool5
   features of all N files: the features come out, the images are never all held. Also the
   transform's own peak (Linux), apart from what building the network peaked at. The target
   (< 1.5 GB at 25,000 files) holds where skalexnet's own dependencies are installed: Keras
   also imports jax, matplotlib and pandas where they are (the test extras): 170 MB more.

The peer, per batch of ``--batch-size`` files: Pillow open, convert to RGB, bilinear resize to
image_size (skalexnet's resampling), in a thread pool of as many threads as skalexnet decodes
with, then ``np.stack``, ``torch.from_numpy``, the 'original' preprocessing ``(x - mean) / 255``
and the network up to pool5 under ``torch.inference_mode()`` (and autocast). Before timing, the
two networks are given the same weights and their float32 features compared.

Example::

    python benchmarks/bench_features.py --n 512
    python benchmarks/bench_features.py --n 25000 --only memory

Never part of the test suite.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from _peer_torch import TorchAlexNet, peer_variants
from bench_data import HEIGHT, WIDTH, write_jpegs
from PIL import Image

from skalexnet import AlexNetFeatureExtractor
from skalexnet._data import DECODE_WORKERS

CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")


def load_image(path: str, size: int) -> np.ndarray:
    """What a plain PyTorch user writes: open, RGB, bilinear resize to size x size."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))


class PeerExtractor:
    """pool5 features of image files with the plain PyTorch AlexNet, one batch at a time."""

    def __init__(
        self,
        image_size: int,
        batch_size: int,
        workers: int,
        precision: str = "float32",
        channels_last: bool = True,
    ):
        torch.manual_seed(0)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = TorchAlexNet(image_size=image_size).eval().to(memory_format=memory_format)
        self.memory_format = memory_format
        self.autocast = precision == "bfloat16"
        self.image_size = image_size
        self.batch_size = batch_size
        self.workers = workers

    def pool5(self, x: torch.Tensor) -> torch.Tensor:
        """TorchAlexNet.forward up to pool5, flattened channels first."""
        m = self.model
        x = (x - m.mean) / 255.0
        x = m._lrn(F.max_pool2d(F.relu(m.conv1(x)), 3, 2))
        x = m._lrn(F.max_pool2d(F.relu(m.conv2(x)), 3, 2))
        x = F.relu(m.conv4(F.relu(m.conv3(x))))
        return torch.flatten(F.max_pool2d(F.relu(m.conv5(x)), 3, 2), 1)

    def transform(self, paths) -> np.ndarray:
        n_features = 256 * self.model.pool5_size**2
        features = np.empty((len(paths), n_features), dtype=np.float32)

        def load(path):
            return load_image(path, self.image_size)

        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast)
        with ThreadPoolExecutor(self.workers) as pool, torch.inference_mode(), autocast:
            for start in range(0, len(paths), self.batch_size):
                images = list(pool.map(load, paths[start : start + self.batch_size]))
                # NHWC uint8 viewed as NCHW is channels-last already; NCHW needs a copy.
                x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
                x = x.contiguous(memory_format=self.memory_format)
                features[start : start + len(images)] = self.pool5(x).float().numpy()
        return features


def peer_extractors(size: int, batch_size: int) -> dict:
    """A PeerExtractor per inference variant of ``peer_variants`` (the optimizer's aside)."""
    return {
        name: PeerExtractor(
            size, batch_size, DECODE_WORKERS, options["precision"], options["channels_last"]
        )
        for name, options in peer_variants("cpu").items()
        if not options.get("fused_sgd")
    }


def copy_conv_weights(peer: PeerExtractor, extractor: AlexNetFeatureExtractor) -> None:
    """Give the peer the extractor's convolutions (Keras HWIO kernels, torch OIHW)."""
    with torch.no_grad():
        for name in CONV_LAYERS:
            kernel, bias = (np.asarray(w) for w in extractor.model_.get_layer(name).get_weights())
            layer = getattr(peer.model, name)
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))))
            layer.bias.copy_(torch.from_numpy(bias))


def largest_difference(extractor, peer, paths) -> tuple[float, float]:
    """(max |difference|, max |feature|) of the two pool5 features of the same files."""
    ours = extractor.transform(paths)
    side = peer.model.pool5_size
    theirs = peer.transform(paths).reshape(len(paths), 256, side, side).transpose(0, 2, 3, 1)
    theirs = theirs.reshape(len(paths), -1)  # channels last, as Keras flattens
    return float(np.abs(ours - theirs).max()), float(np.abs(theirs).max())


def interleaved_rates(runs: dict, n_images: int, rounds: int) -> dict:
    """images/s of each run, all runs once per round, in reversed order every other round."""
    seconds = dict.fromkeys(runs, 0.0)
    for index in range(rounds):
        order = list(runs) if index % 2 == 0 else list(runs)[::-1]
        for name in order:
            start = time.perf_counter()
            runs[name]()
            seconds[name] += time.perf_counter() - start
        print(f"  round {index + 1}/{rounds} done", file=sys.stderr, flush=True)
    return {name: rounds * n_images / s for name, s in seconds.items()}


def measure_speed(paths, args) -> None:
    size, batch_size = args.image_size, args.batch_size
    extractor = AlexNetFeatureExtractor(
        weights=None, layer="pool5", image_size=size, batch_size=batch_size
    ).fit(paths)
    peers = peer_extractors(size, batch_size)
    runs = {f"skalexnet (precision {extractor.precision_})": lambda: extractor.transform(paths)}
    for name, peer in peers.items():
        copy_conv_weights(peer, extractor)
        difference, scale = largest_difference(extractor, peer, paths[:batch_size])  # warms up
        print(
            f"same weights, {batch_size} files, peer {name}: pool5 max |diff| {difference:.2e} "
            f"(max |feature| {scale:.2e})"
        )
        runs[f"peer {name}"] = lambda peer=peer: peer.transform(paths)
    rates = interleaved_rates(runs, len(paths), args.rounds)
    print(
        f"JPEG files -> pool5 at {size}, batch {batch_size}, {len(paths)} files x {args.rounds} "
        f"rounds; peers: PyTorch + Pillow, {DECODE_WORKERS} decoding threads, then the batch's "
        "forward"
    )
    for name, rate in rates.items():
        print(f"  {name:<48}{rate:8.1f} img/s")
    ours = next(iter(rates))
    best = max((name for name in rates if name != ours), key=rates.get)
    print(f"ratio skalexnet / fastest peer ({best}): {rates[ours] / rates[best]:.2f}")


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Lower the peak resident memory to the current one (Linux); False where not supported.

    Building a network peaks above what it keeps (an initialiser draws several candidates per
    weight), which could hide the transform's own peak on a few thousand files.
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def measure_memory(paths, args) -> None:
    extractor = AlexNetFeatureExtractor(
        weights=None, layer="pool5", image_size=args.image_size, batch_size=args.batch_size
    ).fit(paths)
    build_peak = maxrss_mb()
    own_peak = reset_peak_rss()
    features = extractor.transform(paths)
    transform_peak = maxrss_mb()
    print(
        f"peak resident memory extracting pool5 of {len(paths)} files at {args.image_size}: "
        f"{max(build_peak, transform_peak):.0f} MB (ru_maxrss); "
        + (f"the transform's own peak {transform_peak:.0f} MB, " if own_peak else "")
        + f"building the network peaked at {build_peak:.0f} MB; the features alone "
        f"{features.nbytes / 1024**2:.0f} MB"
    )


def memory_in_a_fresh_process(args) -> str:
    command = [sys.executable, os.path.abspath(__file__), "--only", "memory"]
    command += ["--n", str(args.n), "--folder", args.folder]
    command += ["--image-size", str(args.image_size), "--batch-size", str(args.batch_size)]
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return completed.stdout.splitlines()[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="JPEG files (up to 25,000)")
    parser.add_argument("--folder", default="/tmp/skalexnet-bench-jpegs")
    parser.add_argument("--image-size", type=int, default=227)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4, help="timed passes of each")
    parser.add_argument("--only", choices=["speed", "memory"])
    args = parser.parse_args()

    start = time.perf_counter()
    paths = write_jpegs(args.folder, args.n)
    print(
        f"{args.n} JPEGs of {WIDTH}x{HEIGHT} in {args.folder} ({time.perf_counter() - start:.0f} "
        f"s to write); torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs"
    )
    if args.only == "memory":
        measure_memory(paths, args)
        return
    measure_speed(paths, args)
    if args.only is None:
        print(memory_in_a_fresh_process(args))


if __name__ == "__main__":
    main()
