"""The documents: report.md (markdown.py), report.html (html.py), both from
one computation of a run's Facts (analysis/scenarios/facts.py), and the
comparison of two runs (compare_runs.py, `lab compare` and `lab reproduce`).
The top room: it imports the others, none imports it."""
