"""`python -m model.train --config FILE --run-dir DIR [--out DIR]`: see model.train.loop."""

import sys

from model.train.loop import main

if __name__ == "__main__":
    sys.exit(main())
