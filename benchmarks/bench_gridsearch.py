"""GridSearchCV over AlexNetClassifier on joblib's engines: sequential, loky, Dask and Ray.

One small grid (4 candidates: learning_rate x batch_size, cv=2, refit=False, 1 epoch at
image_size 67 on scikit-learn's digits, scored by log-loss) is searched

- sequentially (n_jobs=None): the reference;
- with joblib's default loky backend, n_jobs=2;
- on a Dask LocalCluster of 2 worker processes x 1 thread (``joblib.parallel_config("dask")``);
- on a local Ray instance of 2 CPUs (``ray.util.joblib.register_ray()``,
  ``joblib.parallel_config("ray")``).

Each engine runs in a fresh interpreter, so that none inherits another's imports, worker pools or
environment (Dask's nanny writes OMP_NUM_THREADS=1 into its client's environment). Per engine it
prints:

- startup: creating the Dask cluster / the Ray instance, apart from the searches (loky starts its
  workers in the first search);
- each search's wall time: the first includes the workers' imports of torch and Keras, later ones
  run on warm workers (but Ray's joblib backend starts a new pool of actors for every search);
- the overhead of one ``Parallel`` call and of one task, from trivial tasks (``abs``);
- torch's intra-op threads inside a task, and OMP_NUM_THREADS there;
- peak resident memory of each worker (the n_jobs largest descendant processes: those that
  trained), of all the engine's processes at once, and of the client process, and how many
  processes the engine started (more than n_jobs: restarted workers, Ray's pool per call, Ray's
  own services); psutil samples the descendants every 0.1 s;
- whether the search found the sequential search's best parameters and scores.

Example::

    python benchmarks/bench_gridsearch.py                     # 12 minutes on 2 busy cores
    python benchmarks/bench_gridsearch.py --engines sequential dask --images 400 --searches 1

Needs the dask and ray extras (``pip install skalexnet[dask,ray]``) for those engines, and
psutil (installed with either). Timings on a shared machine are noisy: the load average is
printed. Never part of the test suite.
"""

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import threading
import time
from importlib import metadata

RESULT_PREFIX = "BENCH_RESULT "
ENGINES = ("sequential", "loky", "dask", "ray")
GRID = {"learning_rate": [0.01, 0.03], "batch_size": [16, 32]}
IMAGE_SIZE = 67  # AlexNet's smallest input; the 8x8 digits are upscaled to it
MIB = 2**20


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--n-jobs", type=int, default=2, help="workers of every parallel engine")
    parser.add_argument("--images", type=int, default=240, help="digits searched over")
    parser.add_argument("--cv", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--searches", type=int, default=2, help="searches per engine (cold, warm)")
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)  # one child's engine
    return parser.parse_args(argv)


# -- the child: one engine in a fresh interpreter -------------------------------------------------


class DescendantSampler:
    """Peak RSS and CPU time of every descendant process, sampled in a background thread.

    Works alike for loky's and Dask's worker processes and Ray's raylet, GCS and actors; a task
    cannot report its own peak on Ray, whose joblib actors are gone when the search returns.
    """

    def __init__(self, interval=0.1):
        import psutil

        self._psutil = psutil
        self._interval = interval
        self._stop = threading.Event()
        self.processes = {}  # pid -> {"name", "peak_rss", "cpu_start", "cpu"}
        self.peak_total = 0  # all descendants' RSS at one sample, at its largest
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._sample()  # CPU time from here on: exclude what a process spent before
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self):
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self):
        psutil = self._psutil
        total = 0
        for process in psutil.Process().children(recursive=True):
            try:
                with process.oneshot():
                    rss = process.memory_info().rss
                    times = process.cpu_times()
                    cpu = times.user + times.system
                    seen = self.processes.get(process.pid)
                    if seen is None:
                        name = " ".join(process.cmdline())[:70] or process.name()
                        seen = {"name": name, "peak_rss": 0, "cpu_start": cpu, "cpu": cpu}
                        self.processes[process.pid] = seen
            except psutil.Error:  # exited meanwhile
                continue
            seen["peak_rss"] = max(seen["peak_rss"], rss)
            seen["cpu"] = cpu
            total += rss
        self.peak_total = max(self.peak_total, total)

    def summary(self, n_workers):
        """Peaks of the n_workers largest descendants (those that trained) and of all together."""
        processes = sorted(self.processes.values(), key=lambda p: -p["peak_rss"])
        workers = processes[:n_workers]
        return {
            "worker_peak_mib": [round(p["peak_rss"] / MIB) for p in workers],
            "worker_names": sorted({p["name"][:50] for p in workers}),
            "processes": len(processes),
            "descendants_peak_mib": round(self.peak_total / MIB),
            "descendant_cpu_s": round(sum(p["cpu"] - p["cpu_start"] for p in processes)),
        }


def start_engine(engine, n_jobs):
    """Start the engine; return the joblib backend name and a function that shuts it down."""
    if engine == "sequential":
        return None, lambda: None
    if engine == "loky":
        # Nothing to start: loky spawns its executor in the first search and reuses it later.
        # Warming it up with trivial tasks would backfire: a loky worker measures its memory
        # after its first task and restarts itself once it holds 300 MB more, which torch, Keras
        # and one AlexNet fit do (the first search's task is a fit, so the growth stays small).
        return "loky", lambda: None
    if engine == "dask":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=n_jobs, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)

        def shutdown():
            client.close()
            cluster.close()

        return "dask", shutdown
    import ray
    from ray.util.joblib import register_ray

    register_ray()
    ray.init(num_cpus=n_jobs, include_dashboard=False, log_to_driver=False)
    return "ray", ray.shutdown


def parallel(backend, n_jobs, tasks):
    """Run joblib tasks on the backend (sequentially without one), one task per round trip."""
    import joblib

    # batch_size=1 as in a search, whose long tasks joblib never batches; trivial tasks would
    # otherwise be batched by the hundred and hide the per-task cost.
    if backend is None:
        return joblib.Parallel(n_jobs=None, batch_size=1)(tasks)
    with joblib.parallel_config(backend):
        return joblib.Parallel(n_jobs=n_jobs, batch_size=1)(tasks)


def task_overheads(backend, n_jobs, few=2, many=200):
    """Seconds of one Parallel call (``few`` trivial tasks; median of 3) and of one more task."""
    import joblib

    def timed(n):
        start = time.perf_counter()
        parallel(backend, n_jobs, (joblib.delayed(abs)(-i) for i in range(n)))
        return time.perf_counter() - start

    call = statistics.median(timed(few) for _ in range(3))
    per_task = max(0.0, (timed(many) - call) / (many - few))
    return call, per_task


def run_engine(args):
    started = time.perf_counter()
    import joblib
    import torch
    from sklearn.model_selection import GridSearchCV

    from skalexnet import AlexNetClassifier
    from skalexnet.digits import digit_images

    result = {"engine": args.engine, "import_s": time.perf_counter() - started}
    images, labels = (part[: args.images] for part in digit_images())
    classifier = AlexNetClassifier(
        image_size=IMAGE_SIZE, epochs=args.epochs, augment=None, random_state=0
    )
    n_jobs = None if args.engine == "sequential" else args.n_jobs

    with DescendantSampler() as sampler:
        start = time.perf_counter()
        backend, shutdown = start_engine(args.engine, args.n_jobs)
        result["startup_s"] = time.perf_counter() - start
        result["search_s"] = []
        for _ in range(args.searches):
            search = GridSearchCV(
                classifier, GRID, cv=args.cv, scoring="neg_log_loss", n_jobs=n_jobs, refit=False
            )
            start = time.perf_counter()
            if backend is None:
                search.fit(images, labels)
            else:
                with joblib.parallel_config(backend):
                    search.fit(images, labels)
            result["search_s"].append(time.perf_counter() - start)
        result["best_params"] = search.best_params_
        result["scores"] = [
            search.cv_results_[f"split{k}_test_score"].tolist() for k in range(args.cv)
        ]
        result["torch_threads"] = parallel(
            backend, n_jobs, (joblib.delayed(torch.get_num_threads)() for _ in range(2))
        )
        result["omp_num_threads"] = parallel(
            backend, n_jobs, (joblib.delayed(os.getenv)("OMP_NUM_THREADS") for _ in range(2))
        )
        result["call_s"], result["task_s"] = task_overheads(backend, n_jobs)
        start = time.perf_counter()
        shutdown()
        result["shutdown_s"] = time.perf_counter() - start
    result.update(sampler.summary(0 if n_jobs is None else n_jobs))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["client_peak_mib"] = round(usage.ru_maxrss * 1024 / MIB)  # KiB on Linux
    result["client_cpu_s"] = round(usage.ru_utime + usage.ru_stime)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# -- the parent: one child per engine, then the table ---------------------------------------------


def header(args):
    from skalexnet import AlexNetClassifier
    from skalexnet._cpu import cpu_name
    from skalexnet.digits import digit_images

    versions = {}
    for name in ("joblib", "torch", "keras", "distributed", "ray"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    X = digit_images()[0][: args.images]
    estimator = AlexNetClassifier(image_size=IMAGE_SIZE, random_state=0)
    n_fits = len(GRID["learning_rate"]) * len(GRID["batch_size"]) * args.cv
    print(f"CPU: {cpu_name()}; {os.cpu_count()} logical cores; load average {os.getloadavg()}")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(
        f"Grid {GRID}, cv={args.cv}: {n_fits} fits of {args.epochs} epoch(s) on "
        f"{args.images * (args.cv - 1) // args.cv} of {args.images} digits at {IMAGE_SIZE} px, "
        f"n_jobs={args.n_jobs}, refit=False, {args.searches} search(es) per engine"
    )
    print(
        f"What a task carries: the unfitted estimator ({len(pickle.dumps(estimator))} B "
        f"pickled) and X ({X.nbytes / 1024:.0f} KiB of uint8 images) with the fold's indices"
    )


def main():
    args = parse_args()
    if args.engine:
        run_engine(args)
        return
    header(args)
    results = []
    for engine in args.engines:
        command = [sys.executable, __file__, "--engine", engine]
        for name in ("n_jobs", "images", "cv", "epochs", "searches"):
            command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
        print(f"... {engine}", file=sys.stderr, flush=True)
        done = subprocess.run(command, capture_output=True, text=True)
        lines = [x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
        if done.returncode or not lines:
            print(f"{engine}: failed (exit {done.returncode})\n{done.stderr[-3000:]}")
            continue
        results.append(json.loads(lines[-1][len(RESULT_PREFIX) :]))
    report(results)


def report(results):
    reference = next((r for r in results if r["engine"] == "sequential"), None)
    print()
    print(
        f"{'engine':<11}{'import':>7}{'startup':>8}  {'searches (s)':<14}{'shutdown':>9}"
        f"{'call ms':>9}{'task ms':>9}  {'torch thr':<10}{'worker peak MiB':<17}"
        f"{'all MiB':>8}{'client MiB':>11}  same as sequential"
    )
    for r in results:
        searches = " ".join(f"{s:.1f}" for s in r["search_s"])
        same = "-"
        if reference is not None and r is not reference:
            diff = max(
                abs(a - b)
                for got, ref in zip(r["scores"], reference["scores"], strict=True)
                for a, b in zip(got, ref, strict=True)
            )
            params = r["best_params"] == reference["best_params"]
            same = f"best params {'equal' if params else 'DIFFER'}; max |score diff| {diff:.3g}"
        print(
            f"{r['engine']:<11}{r['import_s']:>7.1f}{r['startup_s']:>8.1f}  {searches:<14}"
            f"{r['shutdown_s']:>9.1f}{r['call_s'] * 1e3:>9.0f}{r['task_s'] * 1e3:>9.2f}  "
            f"{','.join(map(str, r['torch_threads'])):<10}"
            f"{','.join(map(str, r['worker_peak_mib'])) or '-':<17}"
            f"{r['descendants_peak_mib']:>8}{r['client_peak_mib']:>11}  {same}"
        )
    print()
    for r in results:
        print(
            f"{r['engine']}: OMP_NUM_THREADS in a task {r['omp_num_threads']}; CPU s: client "
            f"{r['client_cpu_s']}, descendants {r['descendant_cpu_s']}; {r['processes']} "
            f"descendant process(es), the largest {r['worker_names']}"
        )
    if reference is not None:
        print(f"sequential best params {reference['best_params']}")


if __name__ == "__main__":
    main()
