"""Rendering parts shared by the reports, the scenarios and the questions:
numbers to strings (formatting.py), matplotlib figures (plots.py), the
generic and comparison tables of a scenario section (sections.py), and the
verdicts, warnings and A/A control in words (verdicts.py)."""
