"""What a wheel of skalexnet must ship beside the code, and what the docs build depends on."""

from importlib import resources
from pathlib import Path

import skalexnet

ROOT = Path(__file__).resolve().parents[1]


def test_py_typed_marker_is_in_the_package():
    assert resources.files(skalexnet).joinpath("py.typed").is_file()


def test_py_typed_is_declared_as_package_data():
    assert 'skalexnet = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()


def test_gallery_examples_exist():
    examples = {path.name for path in (ROOT / "examples").glob("*.py")}
    assert {
        "train_from_scratch.py",
        "fine_tune.py",
        "feature_extraction.py",
        "grid_search_features.py",
    } <= examples
    assert (ROOT / "examples" / "README.rst").is_file()
