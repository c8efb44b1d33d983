from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GatewayConfig(AppConfig):
    name = "gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gateway import schedules, selectors
        from provenance.verify import register_payload_resolver

        # After `migrate` the service is usable: the periodic jobs exist.
        post_migrate.connect(schedules.on_post_migrate, sender=self)
        # `manage.py verify` and the API name the generation a watermark identifies.
        register_payload_resolver(lambda payload: selectors.generation_by_payload(payload=payload))
