"""WSGI entry point of the DEBUG-on settings (labproject.settings_debug).

The runner starts every server with DJANGO_SETTINGS_MODULE=labproject.settings
in its environment, so this module sets the variable instead of defaulting it.
"""
import os

os.environ["DJANGO_SETTINGS_MODULE"] = "labproject.settings_debug"

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
