"""A matrix over several server/client pairs: which cells each pair measures.

Machines differ, so a cell's figures are only compared with cells measured
on the same pair: every cell the report sets side by side (same Python,
Django, asgiref, view and package pins; they differ in server, workers or
threads, or are A/A twins) goes to one pair, with all its repetitions.
Groups are dealt largest first to the pair with the fewest cells so far, so
the split is balanced and the same for the same cells and pairs (a resumed
run puts each unfinished cell back on the pair it had, if that pair is
still in the lab).
"""
from __future__ import annotations

from collections import defaultdict

from runner.lab.inventory import Pair


def comparison_group(cell) -> tuple:
    """What the report matches a cell on (analysis/stats/summary.py GROUP_COLUMNS)."""
    s = cell.spec
    return (s.python, s.django, s.asgiref or "", s.view, s.extras)


def shard(cells: list, pairs: list[Pair]) -> dict[str, list]:
    """{pair name: its cells}; every pair is a key, maybe with no cells."""
    groups: dict[tuple, list] = defaultdict(list)
    for cell in cells:
        groups[comparison_group(cell)].append(cell)
    out: dict[str, list] = {p.name: [] for p in pairs}
    for key in sorted(groups, key=lambda k: (-len(groups[k]), str(k))):
        lightest = min(out, key=lambda name: (len(out[name]), name))
        out[lightest].extend(sorted(groups[key], key=lambda c: c.cell_id))
    return out
