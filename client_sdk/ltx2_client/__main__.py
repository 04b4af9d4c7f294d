"""`python -m ltx2_client` runs the `ltx2` command line."""

import sys

from .cli import main

sys.exit(main())
