"""Reading runs: a run folder's manifest and samples, checked and brought up
to the current schema (load.py), the metrics derived on reading
(instructions.py), and what the windows themselves say about the measuring
(health.py: window health; saturation.py: a saturated load generator).
Imports nothing else of the analysis."""
