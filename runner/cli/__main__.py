"""`python -m runner.cli`: the `lab` command without its script."""
import sys

from runner.cli import main

sys.exit(main())
