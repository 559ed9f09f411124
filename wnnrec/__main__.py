"""``python -m wnnrec``: the ``wnnrec`` command."""

import sys

from wnnrec.cli import main

sys.exit(main())
