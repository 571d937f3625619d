"""The estimator path (Table 3): ``AlexNetClassifier(epochs=1, augment=None).fit(X_uint8, y)``.

In-memory uint8 images (the ``PyDataset`` pipeline, conversion to float32 included), one epoch; a
timing callback takes the steady state after ``--warmup`` batches; the ratio is to the peer's
float32 training rate, one peer step taken just before the fit and one just after. Options as
``bench_training.py``, which runs this with the other two measurements::

    python benchmarks/bench_estimator.py --batch-sizes 32

Never part of the test suite.
"""

from _training_harness import log, main


def measure(session):
    """In-memory uint8 images, no augmentation, one epoch, steady state; peer just around."""
    args, size = session.args, session.args.image_size
    session.result["estimator"] = []
    peer = session.peer("float32")
    for precision, batch_size, what in session.cases("estimator", args.batch_sizes):
        n = batch_size * (args.warmup + args.steps)
        X, y = session.images(n)
        log(f"[{session.backend}] {what}: fit on {n} images")
        clf = session.classifier(precision, batch_size, epochs=1, augment=None)
        # The peer's reference: one step just before the fit and one just after.
        peer_seconds = session.timed_peer_step(peer, batch_size, size)
        rate, _ = session.timed_fit(clf, X, y)
        peer_seconds += session.timed_peer_step(peer, batch_size, size)
        peer_rate = 2 * batch_size / peer_seconds
        session.result["estimator"].append([clf.precision_, batch_size, rate, peer_rate])
        log(f"[{session.backend}]   {rate:.1f} img/s, peer float32 {peer_rate:.1f}")


def report(args, result):
    if not result.get("estimator"):
        return
    print(
        "\nTable 3. Estimator path: AlexNetClassifier(epochs=1, augment=None).fit(X_uint8, y), "
        "steady state; ratio = estimator / peer float32 training (same process)"
    )
    header = (
        f"{'backend':<12}{'precision':<10}{'batch':>6}{'fit img/s':>13}{'peer train':>12}"
        f"{'ratio':>8}"
    )
    print(header)
    print("-" * len(header))
    for precision, batch, rate, peer_rate in result["estimator"]:
        print(
            f"{result['backend']:<12}{precision:<10}{batch:>6}{rate:>13.1f}{peer_rate:>12.1f}"
            f"{rate / peer_rate:>8.2f}"
        )


if __name__ == "__main__":
    import sys

    main([sys.modules[__name__]], __file__, __doc__.splitlines()[0])
