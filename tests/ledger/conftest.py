import itertools

import pytest
from django.db import connection

from ledger import services
from tests.ledger.factories import make_world

_keys = itertools.count(1)


@pytest.fixture
def world(db):
    return make_world()


@pytest.fixture
def key():
    """A fresh idempotency key per call."""
    return lambda prefix="k": f"{prefix}-{next(_keys)}"


@pytest.fixture
def post(key):
    """hold_create + hold_post in one step: the royalty transaction of one render."""

    def make(contract, *, duration_s=10.0, platform="tiktok"):
        hold = services.hold_create(contract=contract, reference=key("gen"), idempotency_key=key("hold"),
                                    meta={"platform": platform})
        return services.hold_post(hold=hold, duration_s=duration_s, idempotency_key=key("post"))

    return make


@pytest.fixture
def vendor():
    return connection.vendor
