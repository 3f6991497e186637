"""Statistics over the sample table, numbers in and numbers out (no
rendering): medians and baseline ratios (summary.py), bootstrap intervals,
stability warnings and A/A controls (bootstrap.py), paired within-block
ratios (paired.py), change points along a version axis (steps.py), pooled
tails (tails.py), and the one verdict rule with its thresholds and words
(verdict.py). Imports only analysis.runs."""
