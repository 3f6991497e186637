"""The suite's own rules: every test is in one tier, the one hook in
conftest.py skips what this machine cannot run (and fails it under `make
test`), and no test module imports another (shared code is tests/support/)."""
import ast
from pathlib import Path


pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent
CONFTEST = (TESTS / "conftest.py").read_text()
INI = """[pytest]
addopts = --strict-markers
markers =
    unit: u
    integration: i
    network: n
    root: r
    e2e: e
    needs(*tools): t
"""
SAMPLE = """
import pytest

def test_plain():
    pass

@pytest.mark.integration
@pytest.mark.needs("sh")
def test_with_a_tool_here():
    pass

@pytest.mark.integration
@pytest.mark.needs("no-such-tool-djlab")
def test_with_a_missing_tool():
    pass
"""


def run_sample(pytester, monkeypatch, strict: bool):
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sample=SAMPLE)
    if strict:
        monkeypatch.setenv("DJLAB_TEST_STRICT", "1")
    else:
        monkeypatch.delenv("DJLAB_TEST_STRICT", raising=False)
    return pytester.runpytest_subprocess("-rsf")


def test_a_missing_tool_is_a_skip_that_names_it(pytester, monkeypatch):
    result = run_sample(pytester, monkeypatch, strict=False)
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*no-such-tool-djlab not found*"])


def test_under_make_test_a_missing_tool_is_a_failure(pytester, monkeypatch):
    result = run_sample(pytester, monkeypatch, strict=True)
    result.assert_outcomes(passed=2, errors=1)    # failed in its setup: the run fails
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*no-such-tool-djlab not found (make test installs*"])


def test_a_test_with_no_tier_is_unit_and_selectable_by_it(pytester, monkeypatch):
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sample=SAMPLE)
    result = pytester.runpytest_subprocess("-m", "unit")
    result.assert_outcomes(passed=1, deselected=2)


def test_an_unregistered_marker_is_refused(pytester):
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sample="import pytest\n\n@pytest.mark.e2ee\ndef test_x():\n    pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*'e2ee' not found in `markers`*"])


def test_no_test_module_imports_another():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                last = name.split(".")[-1]
                if name.startswith("tests.") and (last.startswith("test_") or last.startswith("bench_")):
                    offenders.append(f"{path.relative_to(TESTS)} imports {name}")
    assert offenders == []
