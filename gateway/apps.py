import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate

import renderer
from provenance.verify import register_payload_resolver

log = logging.getLogger(__name__)


def warm_renderer(sender, proc_name: str = "", **kwargs) -> None:
    """Load the renderer's models in each django-q2 worker as it spawns (after the
    fork, never in the parent), so the first render does not pay for them."""
    try:
        loaded = renderer.warm_up()
        log.info("%s: renderer warm (%s)", proc_name, loaded)
    except Exception:  # a worker that cannot warm up still serves the other tasks
        log.exception("%s: renderer warm-up failed", proc_name)


class GatewayConfig(AppConfig):
    name = "gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Not at the top: these modules import models (ours, django_q's), which cannot
        # load while Django is still importing the apps' AppConfig modules.
        from django_q.signals import post_spawn

        from gateway import schedules, selectors

        # After `migrate` the service is usable: the periodic jobs exist.
        post_migrate.connect(schedules.on_post_migrate, sender=self)
        post_spawn.connect(warm_renderer, dispatch_uid="doppel-warm-renderer")
        # `manage.py verify` and the API name the generation a watermark identifies.
        register_payload_resolver(lambda payload: selectors.generation_by_payload(payload=payload))
