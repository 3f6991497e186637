"""The lab's settings with DEBUG on (seed 000 measured "with/without DEBUG").

Everything else is labproject.settings. Served through labproject.wsgi_debug /
asgi_debug (runner/catalog/servers.TARGETS "django-debug"), so a view here and
the same view under the usual settings differ only in DEBUG: what Django does
more per request with it on (it keeps every query in connection.queries, and
its error pages are the technical ones).
"""
from labproject.settings import *  # noqa: F401,F403

DEBUG = True
