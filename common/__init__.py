"""What every Doppel app shares and no app owns.

* ``common.errors`` — plain domain exceptions (no HTTP, no DRF): services raise
  them from views, commands, tasks and web pages alike.
* ``common.ids`` — opaque prefixed identifiers.
* ``common.timefmt`` — the one timestamp format of the API (RFC 3339, ``Z``).
* ``common.admin`` — admin base classes.
* ``common.api`` — the HTTP toolkit of the JSON API: the exception handler that
  maps domain errors to the error shape of shared/API.md, the strict JSON
  parser, strict serializer fields, pagination, query/upload/Idempotency-Key
  helpers and the OpenAPI error schemas.
"""
