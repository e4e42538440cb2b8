"""``python -m bot``: launch the operator commands, which live in ops/cli.py."""

import sys

from ops.cli import main

sys.exit(main())
