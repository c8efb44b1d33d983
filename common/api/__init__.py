"""The HTTP toolkit of the JSON API (settings.REST_FRAMEWORK points here).

Modules: ``exceptions`` (the one exception handler), ``parsers`` (strict,
size-limited JSON), ``fields`` and ``serializers`` (strict input), ``pagination``
(cursor pages), ``requests`` (query parameters, uploads, Idempotency-Key),
``schema`` (OpenAPI error responses). Views import from here; services never do.
"""
