"""Data-parallel training through Keras's distribution API, on two virtual JAX CPU devices."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from digits import digit_images

from skalexnet import AlexNetClassifier

SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    import skalexnet  # before keras: it picks the backend
    import keras
    import numpy as np
    from digits import digit_images
    from skalexnet import AlexNetClassifier

    images, labels = digit_images()
    X, y, X_test, y_test = images[:192], labels[:192], images[192:293], labels[192:293]
    result = {{"devices": len(keras.distribution.list_devices())}}
    for distribution in (None, "data_parallel"):
        clf = AlexNetClassifier(
            image_size=67, epochs=2, batch_size=32, learning_rate=0.02, augment=None,
            random_state=0, distribution=distribution, precision="float32",
        ).fit(X, y)
        result[str(distribution)] = {{
            "weights": [np.asarray(w).tolist() for w in clf.model_.get_layer("fc8").get_weights()],
            "loss": clf.history_["loss"],
            "accuracy": clf.score(X_test, y_test),  # 101 images: the last batch is padded
            "global_distribution": repr(keras.distribution.distribution()),
        }}
    print("RESULT " + json.dumps(result))
    """
)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax (the jax extra)")
def test_data_parallel_on_two_devices_trains_the_single_device_model():
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }
    script = SCRIPT.format(tests=os.path.dirname(__file__))
    process = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900
    )
    assert process.returncode == 0, process.stderr[-3000:]
    line = next(line for line in process.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["devices"] == 2
    one, two = result["None"], result["data_parallel"]
    # The same model up to the order of floating-point sums: in float32, since bfloat16 (what
    # precision='auto' takes on an AMX CPU) rounds those sums apart by more (0.0045 against a
    # bound of 0.0037, measured on a Xeon with AMX).
    scale = np.abs(np.asarray(one["weights"][0])).max()  # fc8's kernel
    for a, b in zip(one["weights"], two["weights"], strict=True):
        assert np.abs(np.asarray(b) - np.asarray(a)).max() <= 0.05 * scale
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-2)
    assert abs(two["accuracy"] - one["accuracy"]) <= 0.05
    assert two["global_distribution"] == "None"  # scoped to fit and predict


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="the error is for other backends")
def test_data_parallel_elsewhere_than_jax_says_which_backend_has_it():
    images, labels = digit_images()
    clf = AlexNetClassifier(image_size=67, epochs=1, distribution="data_parallel")
    with pytest.raises(ValueError, match="JAX backend only"):
        clf.fit(images[:64], labels[:64])


def test_unknown_distribution_is_refused():
    images, labels = digit_images()
    with pytest.raises(ValueError, match="distribution must be one of"):
        AlexNetClassifier(image_size=67, distribution="model_parallel").fit(images[:8], labels[:8])
