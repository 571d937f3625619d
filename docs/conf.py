"""Sphinx configuration of skalexnet's documentation.

Build it with ``python -m sphinx -W -b html docs docs/_build/html`` (from the repository root,
after ``pip install -e ".[docs]"``). Nothing is downloaded: no intersphinx, and the gallery's
examples run on scikit-learn's digits in their small-data mode.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # the checkout's skalexnet, even without an editable install
sys.path.insert(0, os.path.join(ROOT, "examples"))  # the examples import their _common.py

# The gallery runs every example on a few hundred digits for a few epochs (examples/_common.py),
# on float32, so that the build stays within minutes on 2 cores and its figures are real.
os.environ.setdefault("SKALEXNET_EXAMPLES_SMALL", "1")
os.environ.setdefault("MPLBACKEND", "agg")

import skalexnet  # noqa: E402

project = "skalexnet"
author = "skalexnet developers"
copyright = "skalexnet developers"
release = skalexnet.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "demo_report.md",  # a demo run's report, linked as a file: its plots stay in the run's folder
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.json",
]
templates_path = ["_templates"]

# -- API reference: autosummary pages from the numpydoc docstrings ---------------------------
# api.rst's ":template: class.rst" and "function.rst" are _templates/class.rst and function.rst,
# which say which members a class page documents. No autodoc_default_options: a default
# "inherited-members" made every ".. automodule:: ... :no-members:" document all of the module's
# names, imported ones and private helpers included, and overrode the templates' own choice.
autosummary_generate = True
autodoc_typehints = "none"  # the docstrings' Parameters sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = {"GL08", "PR01", "PR02", "PR10", "RT01", "SA04", "YD01"}
numpydoc_xref_param_type = False

# -- MyST: the user guide is Markdown, moved from the README -----------------------------------
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# -- the gallery of examples/ -------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # _common.py is a helper; regenerate_demo_docs.py rewrites files under docs/ and runs the
    # whole demo: it is shown in the user guide, not executed here.
    "filename_pattern": r"/(?!_common|regenerate_demo_docs)[^/]+\.py$",
    "ignore_pattern": r"(_common|regenerate_demo_docs)\.py$",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("skalexnet",),
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
}

# -- HTML ---------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skalexnet {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False


# -- scikit-learn's inherited docstrings ----------------------------------------------------------
# score, fit_transform, get_params and set_params are documented from scikit-learn's docstrings,
# whose :ref: and :term: roles point into scikit-learn's own user guide and glossary ("Return
# :ref:`accuracy <accuracy_score>` ..."); nothing is fetched (no intersphinx), so they are made
# plain text, for objects defined in scikit-learn only.
_SKLEARN_ROLE = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^`>]*>)?`")


def _plain_sklearn_references(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or ""
    if module == "sklearn" or module.startswith("sklearn."):
        lines[:] = [_SKLEARN_ROLE.sub(r"\1", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _plain_sklearn_references)
