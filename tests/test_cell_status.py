"""A run cut short: cell statuses say what was and was not measured
(runner/execute/run.settle_unfinished_cells)."""
from runner.execute.run import settle_unfinished_cells


def state(status, ok, failures, planned, phases_left=0, reason=None):
    return {"status": status, "units_ok": ok, "failures": [{}] * failures,
            "units_planned": planned, "phases_left": phases_left, "reason": reason}


def test_only_a_cell_with_nothing_left_stays_ok():
    cells = {
        "done": state("ok", 2, 0, 2),
        "half": state("ok", 1, 0, 2),                       # was shown ok after Ctrl-C
        "untouched": state("pending", 0, 0, 2),
        "later-phase": state("ok", 2, 0, 2, phases_left=1),  # fixed-rate never reached
        "half-failed": state("partial", 1, 1, 3, reason="rep 0: server died"),
        "install": state("failed", 0, 0, 0, reason="install failed"),
    }
    settle_unfinished_cells(cells)
    assert {k: v["status"] for k, v in cells.items()} == {
        "done": "ok", "half": "partial", "untouched": "pending", "later-phase": "partial",
        "half-failed": "partial", "install": "failed"}
    assert "ended before all its units were measured" in cells["half"]["reason"]
    assert cells["half-failed"]["reason"] == "rep 0: server died"   # the first reason stays
    assert cells["install"]["reason"] == "install failed"
