"""Network cost (Table 1): training and inference images/s of the Keras model itself against a
plain PyTorch AlexNet in the same process.

At ``--image-size`` (227) and each precision and batch size: ``train_on_batch`` /
``predict_on_batch`` on one batch already on the device, and the peer in float32 and bfloat16
(autocast), steps of all of them interleaved round by round (so that load from other processes
hits them alike), warm-up steps excluded; ratios against the peer's float32 (target: >= 0.9) and
against the peer in the same precision. The network is compiled by the estimator's own compile
step; ``--jit-compile true|false`` overrides Keras's 'auto'. Options as ``bench_training.py``,
which runs this with the other two measurements::

    python benchmarks/bench_network.py --batch-sizes 32 --infer-batch-sizes 64 --epoch-sample 0

Never part of the test suite.
"""

import time

import numpy as np
from _training_harness import _format, bind, log, main

IMPLEMENTATIONS = (("peer", "float32"), ("peer", "bfloat16"))


def measure(session):
    """Table 1's rates, steps of the peer and of skalexnet interleaved round by round."""
    args, keras, size = session.args, session.keras, session.args.image_size
    peers = {"float32": session.peer("float32")}
    # bfloat16 autocast is cheap on a GPU; on CPU it is measured by the first worker only.
    if "bfloat16" in args.precision and (args.peer_bf16 or session.peer_device == "cuda"):
        peers["bfloat16"] = session.peer("bfloat16")
    models = {precision: session.build_keras(precision) for precision in args.precision}
    measurements = []
    for kind, batch_sizes in (("train", args.batch_sizes), ("infer", args.infer_batch_sizes)):
        for batch_size in batch_sizes:
            # One batch on the device, as the peer's: the network's cost, no host copies.
            x = session.rng.uniform(0, 255, (batch_size, size, size, 3)).astype(np.float32)
            y = np.eye(2, dtype=np.float32)[np.arange(batch_size) % 2]
            x, y = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
            for precision, peer in peers.items():
                step = peer.train_step if kind == "train" else peer.infer_step
                key = ("peer", precision, batch_size, kind)
                measurements.append((key, bind(step, batch_size, size), batch_size))
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


def report(args, result):
    if "network" not in result:
        return
    rates = {tuple(row[:4]): row[4] for row in result["network"]}
    print(
        f"\nTable 1. Network cost: images/s at {args.image_size}x{args.image_size}, "
        f"{result['network_rounds']} timed steps after {args.warmup} warm-up, 'original' "
        "AlexNet, 2 classes, one batch on the device; ratios to the peer in float32 (/peer32) "
        "and in the same precision (/peer same), same process, interleaved"
    )
    header = (
        f"{'':<21}{'precision':<10}{'batch':>6}{'train img/s':>13}{'infer img/s':>13}"
        f"{'train/peer32':>14}{'infer/peer32':>14}{'train/same':>12}{'infer/same':>12}"
    )
    print(header)
    print("-" * len(header))
    batches = sorted({row[2] for row in result["network"]})
    rows = [*IMPLEMENTATIONS, *(("skalexnet", p) for p in args.precision)]
    for impl, precision in rows:
        for batch in batches:
            train, infer = (rates.get((impl, precision, batch, k)) for k in ("train", "infer"))
            if train is None and infer is None:
                continue
            cells = []
            for reference in ("float32", precision):
                if impl == "peer" and reference == precision:
                    cells += [None, None]
                    continue
                for kind, rate in (("train", train), ("infer", infer)):
                    peer = rates.get(("peer", reference, batch, kind))
                    cells.append(rate / peer if rate and peer else None)
            label = "peer (torch)" if impl == "peer" else f"skalexnet {result['backend']}"
            print(
                f"{label:<21}{precision:<10}{batch:>6}{_format(train, '13.1f')}"
                f"{_format(infer, '13.1f')}{_format(cells[0], '14.2f')}"
                f"{_format(cells[1], '14.2f')}{_format(cells[2], '12.2f')}"
                f"{_format(cells[3], '12.2f')}"
            )


if __name__ == "__main__":
    import sys

    main([sys.modules[__name__]], __file__, __doc__.splitlines()[0])
