"""Import skalexnet before any test imports Keras, so that Keras gets an installed backend."""

import skalexnet  # noqa: F401
