"""Opaque, prefixed identifiers (``prf_3k9...``), as public as a URL.

Random rather than sequential so that ids leak nothing about volume and an
outsider cannot enumerate another party's objects.
"""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(prefix: str, length: int = 20) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def id_factory(prefix: str):
    """A module-level callable usable as a model field default (migrations need a name)."""

    def make() -> str:
        return new_id(prefix)

    make.__name__ = f"new_{prefix}_id"
    make.__qualname__ = make.__name__
    return make


new_party_id = id_factory("pty")
new_contract_id = id_factory("ctr")
new_key_id = id_factory("key")
new_event_id = id_factory("evt")
