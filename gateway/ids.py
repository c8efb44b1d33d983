"""The gateway's id makers (``gen_…``, ``whk_…``, ``dlv_…``; see common.ids)."""

from common.ids import new_id


# Named module-level functions: migrations reference field defaults by name.
def new_generation_id() -> str:
    return new_id("gen")


def new_webhook_id() -> str:
    return new_id("whk")


def new_delivery_id() -> str:
    return new_id("dlv")
