"""GridSearchCV over skalexnet estimators on Dask and on Ray, through joblib's backends.

Each search runs on a local engine of two single-threaded worker processes (a Dask LocalCluster,
a Ray instance of 2 CPUs) and must give what the plain sequential search gives: the same best
parameters and the same cv_results_ scores, exactly. Exactness holds because every fit is seeded
(``random_state``, or a weights file) and every fit runs on one thread, in the workers (the
engines set OMP_NUM_THREADS=1) as in the baseline: float sums are then split alike everywhere.
The classifier is scored by log-loss rather than accuracy so that any difference shows.
"""

import contextlib
import re

import joblib
import numpy as np
import pytest
import torch
from digits import DIGITS_IMAGE_SIZE, digit_images
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from skalexnet import AlexNetClassifier, AlexNetFeatureExtractor, build_alexnet

N_WORKERS = 2
# Thread settings a worker inherits from this process's environment; cleared while an engine
# starts, so that the tests see each engine's own defaults whatever the CI machine exports.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@pytest.fixture(scope="module")
def digits():
    """120 digits 0-2: two folds of 60 images, enough for one cheap epoch."""
    images, labels = digit_images()
    keep = np.flatnonzero(labels < 3)[:120]
    return images[keep], labels[keep]


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """An AlexNet saved as a file: every worker loads the extractor's weights from this path."""
    path = tmp_path_factory.mktemp("weights") / f"alexnet_{DIGITS_IMAGE_SIZE}.keras"
    build_alexnet(n_classes=3, image_size=DIGITS_IMAGE_SIZE).save(path)
    return path


def classifier_search():
    classifier = AlexNetClassifier(
        image_size=DIGITS_IMAGE_SIZE, epochs=1, batch_size=32, augment=None, random_state=0
    )
    return GridSearchCV(
        classifier,
        {"learning_rate": [0.003, 0.03]},
        cv=2,
        scoring="neg_log_loss",
        n_jobs=N_WORKERS,
        refit=False,
    )


def feature_pipeline(weights):
    extractor = AlexNetFeatureExtractor(weights=str(weights), image_size=DIGITS_IMAGE_SIZE)
    return make_pipeline(extractor, SVC())


def pipeline_search(weights):
    return GridSearchCV(
        feature_pipeline(weights),
        {"svc__C": [0.01, 1.0]},
        cv=2,
        n_jobs=N_WORKERS,
        refit=False,
    )


@contextlib.contextmanager
def one_thread():
    """Run this process's torch and BLAS on one thread, as each engine's workers do."""
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sequential(digits, weights_file):
    """The plain sequential searches (n_jobs=None, no backend), the reference for every engine."""
    with one_thread():
        return {
            "classifier": classifier_search().set_params(n_jobs=None).fit(*digits),
            "pipeline": pipeline_search(weights_file).set_params(n_jobs=None).fit(*digits),
        }


@contextlib.contextmanager
def dask_cluster(env):
    pytest.importorskip("distributed", reason="needs the dask extra: pip install skalexnet[dask]")
    import dask
    from distributed import Client, LocalCluster

    # The nanny exports its pre-spawn-environ (OMP_NUM_THREADS=1 ...) into this process before
    # spawning workers; registering the names here has the fixture's undo restore them.
    for name in [*dask.config.get("distributed.nanny.pre-spawn-environ"), "PYTHONHASHSEED"]:
        env.delenv(name, raising=False)
    with (
        LocalCluster(
            n_workers=N_WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        yield "dask"


@contextlib.contextmanager
def ray_instance(env):
    ray = pytest.importorskip("ray", reason="needs the ray extra: pip install skalexnet[ray]")
    from joblib.pool import PicklingPool
    from ray.util.joblib import register_ray

    # Ray's backend rebases joblib's PicklingPool onto Ray's Pool, for every later user of
    # joblib's multiprocessing backend too: put the base back afterwards.
    bases = PicklingPool.__bases__
    register_ray()
    ray.init(num_cpus=N_WORKERS, include_dashboard=False, log_to_driver=False)
    try:
        yield "ray"
    finally:
        ray.shutdown()
        PicklingPool.__bases__ = bases


@pytest.fixture(scope="module", params=["dask", "ray"])
def engine(request):
    """A local engine of two worker processes; the joblib backend name to run on it."""
    start = {"dask": dask_cluster, "ray": ray_instance}[request.param]
    with pytest.MonkeyPatch.context() as env:
        for name in THREAD_VARIABLES:
            env.delenv(name, raising=False)
        with start(env) as backend:
            yield backend


def assert_same_search(search, reference):
    assert search.best_params_ == reference.best_params_
    scores = [key for key in reference.cv_results_ if "test_score" in key]
    assert scores  # split0_test_score ... mean, std, rank
    for key in scores:
        np.testing.assert_array_equal(search.cv_results_[key], reference.cv_results_[key], key)


# The engine comes first among the arguments: without its extra, the test skips before the
# sequential baseline is computed.
def test_classifier_grid_search_matches_the_sequential_one(engine, sequential, digits):
    with joblib.parallel_config(engine):
        search = classifier_search().fit(*digits)
    assert_same_search(search, sequential["classifier"])


def test_feature_pipeline_grid_search_matches_the_sequential_one(
    engine, sequential, digits, weights_file
):
    with joblib.parallel_config(engine):
        search = pipeline_search(weights_file).fit(*digits)
    assert_same_search(search, sequential["pipeline"])


def test_each_worker_runs_torch_on_one_thread(engine):
    # Two workers on two cores must not start two intra-op threads each: Dask's nanny sets
    # OMP_NUM_THREADS and MKL_NUM_THREADS to 1 in its workers, Ray sets OMP_NUM_THREADS=1 in
    # actors that reserve no CPU (those of its joblib backend), before torch is imported.
    with joblib.parallel_config(engine):
        threads = joblib.Parallel(n_jobs=N_WORKERS)(
            joblib.delayed(torch.get_num_threads)() for _ in range(N_WORKERS)
        )
    assert threads == [1] * N_WORKERS


# Dask alone for the next two: the mechanism is the same on Ray, whose pools cost seconds to start.
@pytest.mark.parametrize("engine", ["dask"], indirect=True)
def test_cross_val_score_matches_the_sequential_search(engine, sequential, digits, weights_file):
    with joblib.parallel_config(engine):
        scores = cross_val_score(feature_pipeline(weights_file), *digits, cv=2, n_jobs=N_WORKERS)
    # SVC's default C=1.0 is the search's second candidate, on the same two folds.
    reference = sequential["pipeline"].cv_results_
    np.testing.assert_array_equal(scores, [reference[f"split{k}_test_score"][1] for k in (0, 1)])


@pytest.mark.parametrize("engine", ["dask"], indirect=True)
def test_a_weights_file_the_workers_cannot_read_is_named(engine, digits, tmp_path):
    # Each candidate is a clone of the unfitted pipeline, so the worker loads the weights from
    # the path itself: a path that does not exist there must say which file is missing.
    missing = tmp_path / "never_copied_to_the_workers.keras"
    search = pipeline_search(missing)
    # GridSearchCV gathers the workers' errors into one: "All the 4 fits failed ...".
    named = rf"(?s)FileNotFoundError.*{re.escape(str(missing))}"
    with joblib.parallel_config(engine), pytest.raises(ValueError, match=named):
        search.fit(*digits)
