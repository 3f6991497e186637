"""The lab's runner: matrix expansion, configuration and measurement over SSH."""
from pathlib import Path

# The repository root: every stage resolves its default paths from here.
REPO_ROOT = Path(__file__).resolve().parent.parent
