"""A user's own Django project as the app under test (`lab run --app`).

Where lab_app's views are fixed in runner/catalog/views.py, a user's project
brings its own: each URL its matrix lists (`app.urls`) becomes a view named
`app:<name>`, checked by status (and a marker the page must contain, if
given) rather than by exact bytes. The project is copied to the server host
(playbooks/roles/lab_server) and served from there by the same server argv
as lab_app, with its own settings module and WSGI/ASGI entry points.
"""
from __future__ import annotations

from dataclasses import dataclass

from runner.catalog.views import VIEWS, View

PREFIX = "app:"
APP_KEY = "user"      # View.app of a user project's views (lab_app's are in servers.TARGETS)


@dataclass(frozen=True)
class AppUrl:
    name: str
    path: str
    status: int
    contains: str = ""


@dataclass(frozen=True)
class UserApp:
    """A project ready to ship: `local_dir` holds its files on the controller
    (a git source is cloned there first); `digest` names exactly which files
    (the commit, or sha256 over the tree)."""

    source: str
    local_dir: str
    digest: str
    settings: str
    wsgi: str
    asgi: str
    urls: tuple[AppUrl, ...]
    requirements: str = ""          # the requirements file's text, installed into every env
    migrate: bool = True
    fixtures: tuple[str, ...] = ()

    def target(self, interface: str) -> str:
        return self.wsgi if interface == "wsgi" else self.asgi

    def views(self) -> list[View]:
        return [View(name=f"{PREFIX}{u.name}", path=u.path, expected_status=u.status,
                     expected_body=u.contains.encode(), match="contains", app=APP_KEY,
                     expected_content_type="",
                     description=f"{self.source} {u.path} (status {u.status}"
                                 + (f", containing {u.contains!r})" if u.contains else ")"))
                for u in self.urls]

    def record(self) -> dict:
        """What the manifest keeps of it."""
        return {"source": self.source, "digest": self.digest, "settings": self.settings,
                "wsgi": self.wsgi, "asgi": self.asgi, "migrate": self.migrate,
                "fixtures": list(self.fixtures), "requirements": self.requirements,
                "urls": [u.__dict__ for u in self.urls]}


# The project of the matrix loaded in this process (one per run).
_current: dict[str, UserApp] = {}


def register(app: UserApp) -> None:
    """Make the project's views known by name (VIEWS["app:home"])."""
    for name in [n for n in VIEWS if n.startswith(PREFIX)]:
        del VIEWS[name]
    for view in app.views():
        VIEWS[view.name] = view
    _current["app"] = app


def current() -> UserApp | None:
    return _current.get("app")


def is_app_view(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def project_of(view: str) -> UserApp | None:
    """The user's project a view belongs to; None for lab_app's views."""
    return current() if is_app_view(view) else None
