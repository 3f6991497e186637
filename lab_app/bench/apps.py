from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The app holding the benchmarked views; it has no models."""

    default_auto_field = 'django.db.models.BigAutoField'
    name = 'bench'
