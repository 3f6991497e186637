"""The `lab` command's one error guard (runner/cli/guard.py): every command,
in the top group and in `matrix` and `tune`, ends a LabError in one line on
stderr and exit 1, Ctrl-C in `error: interrupted` and exit 130; a bug keeps
its traceback. No host is touched."""
import click
import pytest
import typer
from typer.testing import CliRunner

from runner.cli import app, results
from runner.cli.guard import GuardedGroup, analysis_errors
from runner.core.errors import LabError

COMMANDS = {
    "": ["up", "down", "health", "install", "run", "seed", "seeds", "calibrate", "report",
         "archive", "verify", "compare", "reproduce", "apt-packages", "matrix", "tune"],
    "matrix": ["show", "schema"],
    "tune": ["show", "apply", "restore"],
}


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def test_every_command_is_under_the_guard_in_its_help_order():
    top = typer.main.get_command(app)
    assert isinstance(top, GuardedGroup)   # its invoke runs every subcommand, at any depth
    ctx = click.Context(top)
    assert top.list_commands(ctx) == COMMANDS[""]
    for group in ("matrix", "tune"):
        sub = top.get_command(ctx, group)
        assert sub.list_commands(ctx) == COMMANDS[group]


@pytest.mark.parametrize("args, message", [
    (["report", "/no-such-run"], "error: /no-such-run: no such run folder"),
    (["tune", "show", "--lab", "no-such-lab"], "error: lab 'no-such-lab' is not up"),
    (["run", "--lab", "no-such-lab"], "error: give a MATRIX file to run"),
])
def test_a_lab_error_is_one_line_on_stderr_and_exit_1(args, message):
    res = invoke(*args)
    assert res.exit_code == 1
    assert res.stdout == ""
    assert res.stderr.startswith(message) and res.stderr.count("\n") == 1, res.stderr


def test_ctrl_c_is_exit_130(monkeypatch, tmp_path):
    def interrupted(run_dir):
        raise KeyboardInterrupt
    monkeypatch.setattr(results, "print_report", interrupted)
    res = invoke("report", str(tmp_path))
    assert res.exit_code == 130
    assert res.stderr == "error: interrupted\n"


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    def bug(run_dir):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(results, "print_report", bug)
    res = invoke("report", str(tmp_path))
    assert res.exit_code == 1 and isinstance(res.exception, ZeroDivisionError)


def test_the_analysis_naming_a_file_at_fault_becomes_a_lab_error():
    with pytest.raises(LabError, match=r"^report of x: results.parquet: no column 'value'$"):
        with analysis_errors("report of x: "):
            raise ValueError("results.parquet: no column 'value'")
    with pytest.raises(TypeError):   # anything else is not the user's input
        with analysis_errors():
            raise TypeError("a bug")
