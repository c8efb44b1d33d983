import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate

log = logging.getLogger(__name__)


def warm_renderer(sender, proc_name: str = "", **kwargs) -> None:
    """Load the renderer's models in each django-q2 worker as it spawns (after the
    fork, never in the parent), so the first render does not pay for them."""
    import renderer

    try:
        loaded = renderer.warm_up()
        log.info("%s: renderer warm (%s)", proc_name, loaded)
    except Exception:  # a worker that cannot warm up still serves the other tasks
        log.exception("%s: renderer warm-up failed", proc_name)


class GatewayConfig(AppConfig):
    name = "gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gateway import schedules, selectors
        from provenance.verify import register_payload_resolver

        # After `migrate` the service is usable: the periodic jobs exist.
        post_migrate.connect(schedules.on_post_migrate, sender=self)
        from django_q.signals import post_spawn

        post_spawn.connect(warm_renderer, dispatch_uid="doppel-warm-renderer")
        # `manage.py verify` and the API name the generation a watermark identifies.
        register_payload_resolver(lambda payload: selectors.generation_by_payload(payload=payload))
