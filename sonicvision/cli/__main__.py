"""``python -m sonicvision.cli ...``: the same command as ``sonicvision``."""

import sys

from . import main

sys.exit(main())
