from django.apps import AppConfig


class RightsConfig(AppConfig):
    name = "rights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rights import schema  # noqa: F401  (registers the OpenAPI auth extension)
