from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WebConfig(AppConfig):
    name = "web"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from web import schedules

        # The web app registers its own job (the union audit) after every migrate; nothing
        # below it (gateway, ledger…) depends on the web app.
        post_migrate.connect(schedules.on_post_migrate, sender=self)
