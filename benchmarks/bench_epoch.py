"""The study's Task 1 epoch (Table 2): seconds for one epoch through ``AlexNetClassifier.fit``.

``--epoch-images`` (2000) uint8 images in memory, ``augment='study'``: the real user path. When
``--epoch-sample`` is at least the epoch, the classifier trains 2 epochs and the second is timed
whole (wall clock, epoch-end work included; 'first s' is the model's build and the first epoch);
otherwise the steady-state rate is measured on ``--epoch-sample`` images after ``--warmup``
batches and scaled to the epoch. Options as ``bench_training.py``, which runs this with the other
two measurements::

    python benchmarks/bench_epoch.py --epoch-batch-sizes 32

Never part of the test suite.
"""

import time

from _training_harness import fit_timer, log, main


def measure(session):
    """The study's Task 1 epoch: augment='study', uint8 images, every precision."""
    args = session.args
    session.result["epoch"] = []
    sample = min(args.epoch_sample, args.epoch_images)
    if sample <= 0:
        return
    full = sample >= args.epoch_images
    for precision, batch_size, what in session.cases("study epoch", args.epoch_batch_sizes):
        if full:
            row = full_epoch(session, precision, batch_size)
        else:
            row = estimated_epoch(session, precision, batch_size, sample)
        session.result["epoch"].append(row)
        log(
            f"[{session.backend}] {what}: {row['rate']:.1f} img/s, "
            f"{row['epoch_seconds'] or args.epoch_images / row['rate']:.2f} s/epoch"
        )
        session.emit()


def full_epoch(session, precision, batch_size):
    """Two epochs of the whole study epoch; the second timed whole, wall clock."""
    n = session.args.epoch_images
    X, y = session.images(n)
    log(f"[{session.backend}] study epoch {precision} batch {batch_size}: 2 epochs of {n}")
    timer = fit_timer(session.args.warmup, session.synchronize)
    clf = session.classifier(precision, batch_size, epochs=2, augment="study", callbacks=[timer])
    start = time.perf_counter()
    clf.fit(X, y)
    session.synchronize()
    total = time.perf_counter() - start
    epoch_seconds = timer.epoch_seconds[-1]
    return {
        "precision": clf.precision_,
        "batch": batch_size,
        "rate": timer.steady_rate(n, batch_size),
        "timed": n,
        "epoch_seconds": epoch_seconds,
        "first_seconds": total - epoch_seconds,
    }


def estimated_epoch(session, precision, batch_size, sample):
    n = batch_size * session.args.warmup + sample
    X, y = session.images(n)
    log(f"[{session.backend}] study epoch {precision} batch {batch_size}: fit on {n} images")
    clf = session.classifier(precision, batch_size, epochs=1, augment="study")
    rate, first_fit = session.timed_fit(clf, X, y)
    return {
        "precision": clf.precision_,
        "batch": batch_size,
        "rate": rate,
        "timed": sample,
        "epoch_seconds": None,
        "first_seconds": first_fit,
    }


def report(args, result):
    if not result.get("epoch"):
        return
    print(
        f"\nTable 2. The study's Task 1 epoch: {args.epoch_images} uint8 images, "
        "augment='study', AlexNetClassifier.fit; s/epoch 'timed' = the second of two epochs, "
        "wall clock (first s = build + first epoch), else scaled from the steady rate on "
        "'timed' images (first s = build + one batch); img/s = steady state after "
        f"{args.warmup} warm-up batches"
    )
    header = (
        f"{'backend':<12}{'precision':<15}{'batch':>6}{'img/s':>9}{'s/epoch':>10}{'how':>12}"
        f"{'first s':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in result["epoch"]:
        seconds, how = row["epoch_seconds"], "timed"
        if seconds is None:
            seconds, how = args.epoch_images / row["rate"], f"est. {row['timed']}"
        print(
            f"{result['backend']:<12}{row['precision']:<15}{row['batch']:>6}{row['rate']:>9.1f}"
            f"{seconds:>10.2f}{how:>12}{row['first_seconds']:>9.1f}"
        )


if __name__ == "__main__":
    import sys

    main([sys.modules[__name__]], __file__, __doc__.splitlines()[0])
