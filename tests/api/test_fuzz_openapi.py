"""Property-based fuzzing of the whole API from its own OpenAPI schema (issue 10 item 15).

Schemathesis reads ``/api/schema/`` from the in-process WSGI app and generates
requests for every operation — valid and invalid bodies, query strings, path
ids, headers, uploads — sent as a brand, a performer and a union (and with no
key at all). For every response it asserts what shared/API.md promises:

* never a 5xx (``not_a_server_error``);
* every 4xx is JSON in the API's error shape ``{"error": {"code", "message", …}}``.

Deterministic (``derandomize``) with a bounded number of examples per
operation, so CI time stays fixed; ``DOPPEL_FUZZ_EXAMPLES`` raises the count
for a deeper local run.
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from config.wsgi import application
from tests.factories import make_cast, make_contract

EXAMPLES = int(os.environ.get("DOPPEL_FUZZ_EXAMPLES", "12"))


def _load_schema() -> schemathesis.BaseSchema:
    """The schema ``GET /api/schema/`` serves, generated in-process (no request, no
    database), sent to the in-process WSGI app."""
    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = application
    # Valid and invalid inputs both: a malformed request must be a 4xx, never a 5xx.
    loaded.config.generation.update(modes=list(schemathesis.GenerationMode))
    return loaded


schema = _load_schema()


@schemathesis.check
def error_body_has_the_api_shape(ctx, response, case):
    """A 4xx body is JSON ``{"error": {"code": str, "message": str, ...}}`` (shared/API.md "Errors")."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} body is not JSON: {response.content[:200]!r}") from None
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict), f"{response.status_code} body has no error object: {body!r}"[:500]
    assert isinstance(error.get("code"), str) and error["code"], f"error without a code: {body!r}"[:500]
    assert isinstance(error.get("message"), str), f"error without a message: {body!r}"[:500]
    return None


@pytest.fixture
def in_process_requests():
    """Django closes the database connection after each request; the test client
    disconnects that (the test's transaction must survive), and so must a test
    that calls the WSGI app directly."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def callers(db, in_process_requests, settings, fake_stripe):
    """Who calls: each role of the cast (with a contract between them), and nobody; with
    billing on, against the local fake Stripe server (without it, the payout endpoints
    answer a documented 503 ``payments_not_configured``: tests/payments)."""
    settings.STRIPE_SECRET_KEY = fake_stripe.api_key
    settings.STRIPE_WEBHOOK_SECRET = fake_stripe.webhook_secret
    settings.DOPPEL_STRIPE_API_BASE = fake_stripe.url
    cast = make_cast()
    make_contract(cast.brand, cast.performer)
    keys = {"brand": cast.brand_key, "performer": cast.performer_key, "union": cast.union_key}
    return {"anonymous": {}, **{role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}}


@pytest.mark.slow
@schema.parametrize()
@hypothesis_settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                     phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx_or_a_malformed_error(case, callers):
    for headers in callers.values():  # the same request from every role
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error, error_body_has_the_api_shape])
