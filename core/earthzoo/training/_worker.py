"""Entry script for torchrun/msrun workers (they run a file): the earthzoo CLI."""

import sys

from earthzoo.cli import main

sys.exit(main())
