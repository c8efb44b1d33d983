"""Opaque, prefixed identifiers (``prf_3k9...``), as public as a URL.

Random rather than sequential so that ids leak nothing about volume and an
outsider cannot enumerate another party's objects.
"""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(prefix: str, length: int = 20) -> str:
    # 5 random bits per character (100 bits for 20): one call to the OS RNG.
    return f"{prefix}_" + "".join(_ALPHABET[b & 31] for b in secrets.token_bytes(length))


# Named module-level functions: migrations reference field defaults by name.
def new_party_id() -> str:
    return new_id("pty")


def new_contract_id() -> str:
    return new_id("ctr")


def new_key_id() -> str:
    return new_id("key")


def new_event_id() -> str:
    return new_id("evt")
