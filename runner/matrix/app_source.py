"""From a matrix's `app:` section (and `lab run --app`) to a UserApp ready to
ship: the source found or cloned, its entry points found, and every mistake
that can be seen on the controller refused with one line naming the field,
before anything starts. What needs the project's own environment (its
settings importing, its URLs answering) is checked on the server host
before the first measurement (runner/session/user_app.py).
"""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from runner import REPO_ROOT
from runner.catalog.user_app import AppUrl, UserApp
from runner.core.errors import LabError

GIT_URL = re.compile(r"^(https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")
MANAGE_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([\w.]+)['"]""")
ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# Never part of what ships (the playbook's tar leaves out the same).
SKIPPED_PARTS = {".git", "__pycache__"}
CLONES = REPO_ROOT / ".lab" / "apps"


def is_git_url(source: str) -> bool:
    return bool(GIT_URL.match(source)) or (source.endswith(".git") and not Path(source).is_dir())


def clone(url: str, rev: str | None) -> tuple[Path, str]:
    """A fresh clone of `url` at `rev` under .lab/apps; (its folder, the commit)."""
    folder = CLONES / hashlib.sha256(f"{url}\n{rev}".encode()).hexdigest()[:12]
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    steps = [["git", "clone", "--quiet", url, str(folder)]]
    if rev:
        steps.append(["git", "-C", str(folder), "checkout", "--quiet", rev])
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            step = "git clone" if "clone" in cmd else f"git checkout {rev}"
            raise LabError(f"app.source {url}: {step} failed: "
                           f"{' '.join(proc.stderr.split())[-300:]}")
    commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    return folder, f"git:{commit}"


def shipped_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not SKIPPED_PARTS & set(p.relative_to(folder).parts) and p.suffix != ".pyc")


def tree_digest(folder: Path) -> str:
    """sha256 over every shipped file's path and bytes."""
    h = hashlib.sha256()
    for path in shipped_files(folder):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return f"sha256:{h.hexdigest()}"


def module_file(folder: Path, module: str) -> Path | None:
    base = folder.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _entry_point(folder: Path, field: str, value: str) -> str:
    if not ENTRY_POINT.match(value):
        raise LabError(f"app.{field}: expected \"module:callable\" like "
                       f"\"mysite.wsgi:application\", got {value!r}")
    if module_file(folder, value.split(":")[0]) is None:
        raise LabError(f"app.{field}: no module {value.split(':')[0]!r} in {folder}")
    return value


def load_app(section, matrix_dir: Path, override: str | None = None) -> UserApp:
    """The UserApp a matrix's `app:` section stands for. `override` (`--app`)
    replaces its source, read relative to the current folder; the file's own
    source is read relative to the matrix file. Raises LabError."""
    source = override or section.source
    if not source:
        raise LabError("app.source: no project given; name one in the matrix or with "
                       "`lab run MATRIX --app PATH_OR_GIT_URL`")
    if is_git_url(source):
        folder, digest = clone(source, section.rev)
    else:
        folder = (Path(source) if override else matrix_dir / source).expanduser().resolve()
        if not folder.is_dir():
            raise LabError(f"app.source: no such folder: {folder}")
        if section.rev:
            raise LabError(f"app.rev: {section.rev!r} is for a git source; {source} is a folder")
        digest = tree_digest(folder)
    settings = section.settings or _settings_of_manage_py(folder)
    if module_file(folder, settings) is None:
        raise LabError(f"app.settings: no module {settings!r} in {folder}")
    project = settings.rsplit(".", 1)[0] if "." in settings else settings
    wsgi = _entry_point(folder, "wsgi", section.wsgi or f"{project}.wsgi:application")
    asgi = _entry_point(folder, "asgi", section.asgi or f"{project}.asgi:application")
    requirements = ""
    if section.requirements:
        path = folder / section.requirements
        if not path.is_file():
            raise LabError(f"app.requirements: no such file in the project: {section.requirements}")
        requirements = path.read_text()
    return UserApp(source=source if is_git_url(source) else str(folder), local_dir=str(folder), digest=digest, settings=settings,
                   wsgi=wsgi, asgi=asgi, requirements=requirements, migrate=section.migrate,
                   fixtures=tuple(section.fixtures),
                   urls=tuple(AppUrl(u.name, u.path, u.status, u.contains) for u in section.urls))


def _settings_of_manage_py(folder: Path) -> str:
    manage = folder / "manage.py"
    found = MANAGE_SETTINGS.search(manage.read_text()) if manage.is_file() else None
    if not found:
        raise LabError(f"app.settings: not given, and {folder} has no manage.py that sets "
                       f"DJANGO_SETTINGS_MODULE; name the settings module in the matrix")
    return found[1]
