"""A run cut short: cell statuses say what was and was not measured
(runner/execute/state.settle_unfinished_cells)."""
from runner.core.model import CellRecord, Failure
from runner.execute.state import settle_unfinished_cells


def state(cell_id, status, ok, failures, planned, phases_left=0, reason=None):
    return CellRecord(cell_id=cell_id, server="uvicorn", interface="asgi", workers=1,
                      python="3.12", django="5.2", view="drf", status=status, units_ok=ok,
                      failures=[Failure(scenario="s", variant="v", repetition=0, reason="x")]
                      * failures, units_planned=planned, phases_left=phases_left, reason=reason)


def test_only_a_cell_with_nothing_left_stays_ok():
    cells = {
        "done": state("done", "ok", 2, 0, 2),
        "half": state("half", "ok", 1, 0, 2),                       # was shown ok after Ctrl-C
        "untouched": state("untouched", "pending", 0, 0, 2),
        "later-phase": state("later-phase", "ok", 2, 0, 2, phases_left=1),  # fixed-rate never reached
        "half-failed": state("half-failed", "partial", 1, 1, 3, reason="rep 0: server died"),
        "install": state("install", "failed", 0, 0, 0, reason="install failed"),
    }
    settle_unfinished_cells(cells.values())
    assert {k: v.status for k, v in cells.items()} == {
        "done": "ok", "half": "partial", "untouched": "pending", "later-phase": "partial",
        "half-failed": "partial", "install": "failed"}
    assert "ended before all its units were measured" in cells["half"].reason
    assert cells["half-failed"].reason == "rep 0: server died"   # the first reason stays
    assert cells["install"].reason == "install failed"
