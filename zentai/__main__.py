"""``python -m zentai``: the same as the ``zentai`` command."""

import sys

from zentai.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
