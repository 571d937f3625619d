"""``python -m skalexnet``: the same as the ``skalexnet`` command."""

import sys

from .cli import main

sys.exit(main())
