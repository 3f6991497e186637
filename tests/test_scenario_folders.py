"""A scenario is one folder: no module outside a scenario's own places
(runner/scenarios/<module>/ and analysis/scenarios/<module>.py) names a
registered scenario, by its name (`user-ramp`) or its module's (`user_ramp`),
in code or in a string. Generic code reads what the scenarios declare
(runner/scenarios/base.py, analysis/scenarios/base.py) instead.

Python is read with tokenize and ast: names and string literals count;
comments and docstrings (documentation, where a scenario may be named as an
example) do not. YAML files and the Makefile are read line by line without
their comments. The other scenarios' folders are not checked: a scenario may
name one it depends on (fixed-rate runs `after` concurrency)."""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHECKED = ("runner", "analysis", "playbooks")
SUFFIXES = (".py", ".yml", ".yaml", ".j2", ".lua")


def registered(root: Path) -> dict[str, str]:
    """{scenario name: module name}, read from the scenario folders."""
    found = {}
    for folder in sorted((root / "runner" / "scenarios").iterdir()):
        init = folder / "__init__.py"
        if not init.is_file():
            continue
        for node in ast.walk(ast.parse(init.read_text())):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if (isinstance(item, (ast.Assign, ast.AnnAssign))
                            and getattr(getattr(item, "targets", [getattr(item, "target", None)])[0],
                                        "id", None) == "name"
                            and isinstance(item.value, ast.Constant)):
                        found[item.value.value] = folder.name
    return found


def _docstrings(tree: ast.AST) -> set[tuple[int, int]]:
    """(line, column) where each docstring starts."""
    spots = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                spots.add((body[0].lineno, body[0].col_offset))
    return spots


def _python_pieces(text: str):
    docs = _docstrings(ast.parse(text))
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME or (tok.type == tokenize.STRING and tok.start not in docs):
            yield tok.start[0], tok.string
        elif tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                              tokenize.DEDENT, tokenize.OP, tokenize.NUMBER, tokenize.ENDMARKER,
                              tokenize.STRING, tokenize.NAME):
            yield tok.start[0], tok.string      # f-string parts (3.12+)


def _text_pieces(text: str):
    for number, line in enumerate(text.splitlines(), 1):
        yield number, re.split(r"(?:^|\s)#", line, maxsplit=1)[0]


def _own(rel: str, module: str) -> bool:
    return rel.startswith(f"runner/scenarios/{module}/") or rel == f"analysis/scenarios/{module}.py"


def _in_a_scenario(rel: str, modules) -> bool:
    return any(_own(rel, m) for m in modules)


def files(root: Path):
    for top in CHECKED:
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                yield path
    yield root / "Makefile"


def namings(root: Path) -> list[tuple[str, int, str, str]]:
    """(file, line, scenario, text) of every place outside the scenarios'
    own folders that names a scenario."""
    scenarios = registered(root)
    patterns = {name: re.compile(rf"(?<![\w-])({re.escape(name)}|{re.escape(module)})(?![\w-])")
                for name, module in scenarios.items()}
    found = []
    for path in files(root):
        rel = path.relative_to(root).as_posix()
        if _in_a_scenario(rel, scenarios.values()):
            continue
        text = path.read_text()
        pieces = _python_pieces(text) if path.suffix == ".py" else _text_pieces(text)
        for line, piece in pieces:
            for name, pattern in patterns.items():
                if pattern.search(piece):
                    found.append((rel, line, name, piece.strip()[:80]))
    return found


def test_every_scenario_is_found():
    assert {"single-client", "user-ramp", "instructions", "hey"} <= set(registered(REPO))


def test_no_module_outside_a_scenario_folder_names_one():
    found = namings(REPO)
    assert not found, "named outside their folders:\n" + "\n".join(
        f"{rel}:{line}: {name}: {text}" for rel, line, name, text in found)


def test_the_check_sees_names_and_strings_not_comments(tmp_path):
    (tmp_path / "runner" / "scenarios" / "toy_one").mkdir(parents=True)
    (tmp_path / "runner" / "scenarios" / "toy_one" / "__init__.py").write_text(
        'class T:\n    name = "toy-one"\n')
    (tmp_path / "analysis").mkdir()
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "Makefile").write_text("X := a toy-one b  # toy-one\n")
    (tmp_path / "analysis" / "a.py").write_text(
        '"""toy-one in a docstring is fine."""\n# toy-one in a comment too\n'
        'x = "toy-one"\nfrom runner.scenarios import toy_one\ny = f"{x} toy-one"\n')
    (tmp_path / "playbooks" / "p.yml").write_text("# toy-one\n- toy-one\n")
    found = {(rel, line) for rel, line, _, _ in namings(tmp_path)}
    assert found == {("analysis/a.py", 3), ("analysis/a.py", 4), ("analysis/a.py", 5),
                     ("playbooks/p.yml", 2), ("Makefile", 1)}
