"""Secrets at rest: webhook signing secrets are stored encrypted, never in clear.

AES-256-GCM (``cryptography``'s ``AESGCM``) with a random 96-bit nonce per
value; the row it belongs to (the endpoint id) is the associated data, so a
ciphertext copied onto another row does not decrypt. The key is derived with
HKDF-SHA256 from ``DOPPEL_WEBHOOK_SECRET_KEY`` (+``_FILE``, ≥ 16 characters)
or, unset, from ``SECRET_KEY`` — the same working default as the signing keys'
passphrase (``provenance.conf.key_passphrase``): encrypted at rest on a machine
where nobody configured anything; changing the key then makes stored secrets
unreadable (``SecretUnreadable``), so set ``DOPPEL_WEBHOOK_SECRET_KEY`` in
production and keep it.

Stored form: ``v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`` where the
key id is the first 8 hex digits of SHA-256 over the key, so a value sealed
under another key is reported as such instead of failing as a forgery.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from config.env import check_secret

VERSION = "v1"
_INFO = b"doppel/gateway/webhook-secret/v1"
_NONCE_BYTES = 12


class SecretUnreadable(Exception):
    """A stored secret does not decrypt: sealed under another key, or altered."""


def _key() -> bytes:
    configured = check_secret("DOPPEL_WEBHOOK_SECRET_KEY", settings.DOPPEL_WEBHOOK_SECRET_KEY, min_length=16)
    material = configured if configured is not None else settings.SECRET_KEY
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material.encode("utf-8"))


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def seal(plaintext: str, *, context: str) -> str:
    """Encrypt ``plaintext`` bound to ``context`` (the owning row's id); returns the stored form."""
    key = _key()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
    return f"{VERSION}.{_key_id(key)}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def unseal(stored: str, *, context: str) -> str:
    """Decrypt a value made by ``seal`` for the same ``context``; raises SecretUnreadable."""
    try:
        version, key_id, body = stored.split(".", 2)
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise SecretUnreadable("The stored secret is not in the sealed form.") from None
    if version != VERSION:
        raise SecretUnreadable(f"Unknown sealed-secret version {version!r}.")
    key = _key()
    if key_id != _key_id(key):
        raise SecretUnreadable(f"The secret was sealed under another key (id {key_id}, current {_key_id(key)}): "
                               "DOPPEL_WEBHOOK_SECRET_KEY or SECRET_KEY changed.")
    try:
        return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode("utf-8")).decode("utf-8")
    except (InvalidTag, ValueError):
        raise SecretUnreadable("The stored secret does not decrypt for this row (altered or moved).") from None


def check() -> None:
    """Validate the key setting (ImproperlyConfigured on a short DOPPEL_WEBHOOK_SECRET_KEY)."""
    _key()
