"""The two kinds of failure the lab tells apart."""


class LabError(Exception):
    """A user-facing error: message printed as one line, exit 1."""


class StepFailed(Exception):
    """One measured unit failed; the reason is recorded and the run goes on."""
