from common.ids import new_id


def new_generation_id() -> str:
    return new_id("gen")


def new_webhook_id() -> str:
    return new_id("whk")


def new_delivery_id() -> str:
    return new_id("dlv")
