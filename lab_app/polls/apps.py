from django.apps import AppConfig


class PollsConfig(AppConfig):
    """The Django tutorial's polls app (seed 003's workload); it needs a real
    database, so only cells run with LAB_DB=postgres can serve it."""

    default_auto_field = 'django.db.models.BigAutoField'
    name = 'polls'
