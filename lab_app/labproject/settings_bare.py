"""The lab's settings with no middleware at all (overhead attribution).

Everything else is labproject.settings: the same apps, URLs and views. Served
through labproject.wsgi_bare / asgi_bare (runner/servers.TARGETS "django-bare"),
so the difference between a view here and the same view under the full
settings is what the seven default middlewares cost on that server.
"""
from labproject.settings import *  # noqa: F401,F403

MIDDLEWARE = []
