class LabError(Exception):
    """A user-facing error: message printed as one line, exit 1."""
