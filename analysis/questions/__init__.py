"""Questions asked of a run beyond its verdicts: the overhead attribution,
anomaly flags, a seed's published-vs-measured claims, a calibration run's
resolution, and the version sweep (runnable as
``python -m analysis.questions.version_pivot``)."""
