"""Which Keras backend ``import skalexnet`` leaves Keras with, by what the user configured."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest


def backend_after_import(keras_home, keras_json=None, **env):
    """Import skalexnet, then Keras, in a fresh interpreter; the backend Keras reports."""
    if keras_json is not None:
        (keras_home / "keras.json").write_text(json.dumps(keras_json))
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    environment.update(KERAS_HOME=str(keras_home), **env)
    code = "import skalexnet, keras; print(keras.backend.backend())"
    done = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return done.stdout.split()[-1]


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is not None, reason="tensorflow is installed here"
)
def test_a_configured_backend_that_is_missing_gives_way_to_torch(tmp_path):
    # Keras's own default, written into keras.json on its first import, is tensorflow.
    assert backend_after_import(tmp_path, {"backend": "tensorflow"}) == "torch"
    assert backend_after_import(tmp_path / "nowhere") == "torch"


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_an_installed_backend_is_kept_whether_configured_or_set(tmp_path):
    assert backend_after_import(tmp_path, {"backend": "jax"}) == "jax"
    assert backend_after_import(tmp_path, {"backend": "torch"}, KERAS_BACKEND="jax") == "jax"
