"""Network cost (Table 1): training and inference images/s of the Keras model itself against the
best plain PyTorch AlexNet in the same process.

At ``--image-size`` (227) and each precision and batch size: ``train_on_batch`` /
``predict_on_batch`` on one batch already on the device, and the peer in every variant a PyTorch
user would try here (``_peer_torch.peer_variants``: float32 NCHW and channels-last, and where
bfloat16 is native, bfloat16 autocast channels-last with torch's default and fused SGD), steps
of all of them interleaved round by round (so that load from other processes hits them alike),
warm-up steps excluded. Each skalexnet row's ratio is to the fastest peer variant at the same
batch size and kind (target: >= 1.2 on a CPU), which the table names. The network is compiled by
the estimator's own compile step; ``--jit-compile true|false`` overrides Keras's 'auto'. Options
as ``bench_training.py``, which runs this with the other two measurements::

    python benchmarks/bench_network.py --batch-sizes 32 --infer-batch-sizes 64 --epoch-sample 0
    python benchmarks/bench_network.py --precision float32 bfloat16 bfloat16_conv --steps 5

Never part of the test suite.
"""

import time

import numpy as np
from _training_harness import _format, bind, log, main


def measure(session):
    """Table 1's rates, steps of every peer variant and of skalexnet interleaved round by round."""
    args, keras, size = session.args, session.keras, session.args.image_size
    peers = session.peers()
    models = {precision: session.build_keras(precision) for precision in args.precision}
    measurements = []
    for kind, batch_sizes in (("train", args.batch_sizes), ("infer", args.infer_batch_sizes)):
        for batch_size in batch_sizes:
            # One batch on the device, as the peer's: the network's cost, no host copies.
            x = session.rng.uniform(0, 255, (batch_size, size, size, 3)).astype(np.float32)
            y = np.eye(2, dtype=np.float32)[np.arange(batch_size) % 2]
            x, y = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
            for name, peer in peers.items():
                if kind == "infer" and peer.fused_sgd:
                    continue  # the optimizer does not infer
                step = peer.train_step if kind == "train" else peer.infer_step
                measurements.append(
                    (("peer", name, batch_size, kind), bind(step, batch_size, size), batch_size)
                )
            for precision, model in models.items():
                key = ("skalexnet", precision, batch_size, kind)
                step = (
                    bind(model.train_on_batch, x, y)
                    if kind == "train"
                    else bind(model.predict_on_batch, x)
                )
                measurements.append((key, step, batch_size))
    log(f"[{session.backend}] network: {len(measurements)} measurements, interleaved")
    rates, rounds = interleaved_rates(session, measurements)
    session.result["network"] = [[*key, rate] for key, rate in rates.items()]
    session.result["jit_compile"] = next(iter(models.values())).jit_compile
    session.result["network_rounds"] = rounds
    for key, rate in rates.items():
        log(f"[{session.backend}]   {' '.join(map(str, key))}: {rate:.1f} img/s")


def interleaved_rates(session, measurements):
    """images/s of each (key, step, images) measurement, one step of each per round in turn."""
    args = session.args
    for key, step, _ in measurements:
        log(f"  warm-up {' '.join(map(str, key))}")
        for _ in range(args.warmup):
            step()
    session.synchronize()
    seconds = {key: 0.0 for key, _, _ in measurements}
    rounds = 0
    while rounds < args.steps and not (rounds and session.out_of_time()):
        log(f"  round {rounds + 1}/{args.steps}")
        for key, step, _ in measurements:
            start = time.perf_counter()
            step()
            session.synchronize()
            seconds[key] += time.perf_counter() - start
        rounds += 1
    if rounds < args.steps:
        session.skip(f"network rounds {rounds + 1}-{args.steps}")
    return {key: rounds * images / seconds[key] for key, _, images in measurements}, rounds


def best_peers(rows):
    """(batch, kind) -> (fastest peer variant, its images/s), of rows (impl, name, batch, kind,
    rate)."""
    best = {}
    for impl, name, batch, kind, rate in rows:
        if impl == "peer" and rate > best.get((batch, kind), ("", 0.0))[1]:
            best[batch, kind] = (name, rate)
    return best


def report(args, result):
    if "network" not in result:
        return
    best = best_peers(result["network"])
    print(
        f"\nTable 1. Network cost: images/s at {args.image_size}x{args.image_size}, "
        f"{result['network_rounds']} timed steps after {args.warmup} warm-up, 'original' "
        "AlexNet, 2 classes, one batch on the device; ratio to the fastest plain PyTorch variant "
        "at the same batch size (x best peer), same process, interleaved"
    )
    header = f"{'':<48}{'batch':>6}{'train img/s':>13}{'x best':>8}{'infer img/s':>13}{'x best':>8}"
    print(header)
    print("-" * len(header))
    rates = {tuple(row[:4]): row[4] for row in result["network"]}
    rows = [("peer", name) for name in result["peer_variants"]]
    rows += [("skalexnet", precision) for precision in args.precision]
    for impl, name in rows:
        for batch in sorted({row[2] for row in result["network"]}):
            cells = []
            for kind in ("train", "infer"):
                rate = rates.get((impl, name, batch, kind))
                peer = best.get((batch, kind), (None, None))[1]
                cells += [rate, rate / peer if rate and peer else None]
            if cells[0] is None and cells[2] is None:
                continue
            label = (
                f"peer: {name}"
                if impl == "peer"
                else (f"skalexnet {result['backend']}: {name} ({result['precisions'][name]})")
            )
            print(
                f"{label:<48}{batch:>6}{_format(cells[0], '13.1f')}{_format(cells[1], '8.2f')}"
                f"{_format(cells[2], '13.1f')}{_format(cells[3], '8.2f')}"
            )
    for (batch, kind), (name, rate) in sorted(best.items()):
        print(f"fastest peer, {kind} batch {batch}: {name} ({rate:.1f} img/s)")


if __name__ == "__main__":
    import sys

    main([sys.modules[__name__]], __file__, __doc__.splitlines()[0])
