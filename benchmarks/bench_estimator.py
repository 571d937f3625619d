"""The estimator path (Table 3): ``AlexNetClassifier(epochs=1, augment=None).fit(X_uint8, y)``.

In-memory uint8 images (the ``PyDataset`` pipeline, conversion to float32 included), one epoch; a
timing callback takes the steady state after ``--warmup`` batches. Against it, the loop a PyTorch
user writes for the same images (``PeerSteps.train_epoch``: shuffle, gather a batch, convert it to
float32 NCHW, step), in every peer variant (``_peer_torch.peer_variants``), over the same images
with the same warm-up; the ratio is to the fastest variant (target: >= 1.2 on a CPU). The fit
and the peer loops alternate, repeated ``--repeats`` times, and each keeps its best. Options as
``bench_training.py``, which runs this with the other two measurements::

    python benchmarks/bench_estimator.py --batch-sizes 32 --steps 8

Never part of the test suite.
"""

from _training_harness import log, main


def measure(session):
    """Each case: the estimator's fit and every peer variant's loop on the same uint8 images."""
    args = session.args
    session.result["estimator"] = []
    peers = session.peers()
    for precision, batch_size, what in session.cases("estimator", args.batch_sizes):
        n = batch_size * (args.warmup + args.steps)
        X, y = session.images(n)
        log(f"[{session.backend}] {what}: fit on {n} images")
        clf = session.classifier(precision, batch_size, epochs=1, augment=None)
        rates = {name: 0.0 for name in peers}
        fit_rate = 0.0
        for _ in range(args.repeats):
            fit_rate = max(fit_rate, session.timed_fit(clf, X, y)[0])
            for name, peer in peers.items():
                rates[name] = max(rates[name], session.peer_fit_rate(peer, X, y, batch_size))
        session.result["estimator"].append([precision, clf.precision_, batch_size, fit_rate, rates])
        log(f"[{session.backend}]   {fit_rate:.1f} img/s, peers {rates}")


def report(args, result):
    if not result.get("estimator"):
        return
    print(
        "\nTable 3. Estimator path: AlexNetClassifier(epochs=1, augment=None).fit(X_uint8, y), "
        "steady state, against a plain PyTorch loop over the same uint8 images in each variant "
        "(same process, alternating; best of --repeats each); ratio = estimator / fastest peer"
    )
    for precision, resolved, batch, rate, peer_rates in result["estimator"]:
        best = max(peer_rates, key=peer_rates.get)
        print(
            f"{result['backend']} precision={precision} ({resolved}), batch {batch}: "
            f"fit {rate:.1f} img/s, fastest peer {best} {peer_rates[best]:.1f}: "
            f"ratio {rate / peer_rates[best]:.2f}"
        )
        for name, peer_rate in peer_rates.items():
            print(f"    peer {name:<46}{peer_rate:>8.1f} img/s")


if __name__ == "__main__":
    import sys

    main([sys.modules[__name__]], __file__, __doc__.splitlines()[0])
