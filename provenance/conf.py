"""Provenance settings, read from the environment when needed (not at import).

Kept here rather than in ``config/settings.py`` so the provenance app owns its
knobs; every value is read through ``config.env`` helpers, so ``*_FILE``
variants work for secrets and malformed values fail loudly.

| variable | meaning | default |
|---|---|---|
| ``DOPPEL_SIGNING_KEY_PASSPHRASE`` (+``_FILE``) | passphrase that encrypts private keys at rest | derived from ``SECRET_KEY`` (HKDF) |
| ``DOPPEL_SIGNER_CALLBACK`` | ``"module:function"``; the function signs bytes with ES256 (KMS/HSM) | unset: local key |
| ``DOPPEL_SIGNER_CERTS_FILE`` | PEM chain (signing cert first) for the callback's key | current chain in the keys dir |
| ``DOPPEL_TSA_URL`` | RFC 3161 timestamp authority, passed to c2pa | unset (offline) |
| ``DOPPEL_KEYS_DIR`` | where certificates and encrypted keys live | ``DATA_DIR/keys`` |
| ``DOPPEL_VERIFY_MAX_BYTES`` | largest file ``verify_file`` accepts | ``DOPPEL_MAX_UPLOAD_BYTES`` |
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import env_int, env_str

_PASSPHRASE_INFO = b"doppel/provenance/signing-key-passphrase/v1"


def keys_dir() -> Path:
    configured = env_str("DOPPEL_KEYS_DIR")
    return Path(configured).resolve() if configured else Path(settings.DATA_DIR) / "keys"


def key_passphrase() -> bytes:
    """The passphrase for private keys at rest.

    ``DOPPEL_SIGNING_KEY_PASSPHRASE`` (or ``_FILE``) when set; otherwise a
    working default derived from ``SECRET_KEY`` with HKDF-SHA256, so keys are
    still encrypted at rest on a machine where nobody configured one. Note that
    changing ``SECRET_KEY`` then makes existing keys unreadable (rotate first).
    """
    configured = env_str("DOPPEL_SIGNING_KEY_PASSPHRASE")
    if configured is not None:
        if len(configured) < 16:
            raise ImproperlyConfigured(
                "DOPPEL_SIGNING_KEY_PASSPHRASE must be at least 16 characters long"
            )
        return configured.encode("utf-8")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PASSPHRASE_INFO).derive(
        settings.SECRET_KEY.encode("utf-8")
    )
    return base64.urlsafe_b64encode(derived)


def signer_callback_path() -> str | None:
    value = env_str("DOPPEL_SIGNER_CALLBACK")
    if value is None or not value.strip():
        return None
    value = value.strip()
    module, sep, func = value.partition(":")
    if not sep or not module or not func:
        raise ImproperlyConfigured(
            f"DOPPEL_SIGNER_CALLBACK={value!r}: use 'package.module:function'"
        )
    return value


def signer_certs_file() -> Path | None:
    value = env_str("DOPPEL_SIGNER_CERTS_FILE")
    return Path(value) if value else None


def tsa_url() -> str | None:
    value = env_str("DOPPEL_TSA_URL")
    if not value:
        return None
    if not value.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"DOPPEL_TSA_URL={value!r} must be an http(s) URL")
    return value


def verify_max_bytes() -> int:
    default = int(getattr(settings, "DOPPEL_MAX_UPLOAD_BYTES", 200 * 1024 * 1024))
    return env_int("DOPPEL_VERIFY_MAX_BYTES", default, minimum=1024)
