"""Questions asked of a run beyond its verdicts: the overhead attribution,
anomaly flags, a seed's published-vs-measured claims, a calibration run's
resolution, and the instructions and version sweeps (runnable as
``python -m analysis.questions.instructions_sweep`` / ``.version_pivot``)."""
