"""Provenance settings, as Django settings (read once from the environment by
config/settings.py, where ``*_FILE`` variants work for secrets). Accessors
re-check the value in force (a test or an operator may override a setting);
``check()`` runs them all when the app starts (``ProvenanceConfig.ready``), so a
malformed value stops ``manage.py check`` and every process with
``ImproperlyConfigured`` instead of failing at the first signing.

| setting / variable | meaning | default |
|---|---|---|
| ``DOPPEL_SIGNING_KEY_PASSPHRASE`` (+``_FILE``) | passphrase that encrypts private keys at rest (≥ 16 chars) | derived from ``SECRET_KEY`` (HKDF) |
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

from config.env import check_callable_path, check_http_url, check_int, check_secret

_PASSPHRASE_INFO = b"doppel/provenance/signing-key-passphrase/v1"


def keys_dir() -> Path:
    configured = settings.DOPPEL_KEYS_DIR
    return Path(configured) if configured else Path(settings.DATA_DIR) / "keys"


def key_passphrase() -> bytes:
    """The passphrase for private keys at rest.

    ``DOPPEL_SIGNING_KEY_PASSPHRASE`` (or ``_FILE``) when set; otherwise a
    working default derived from ``SECRET_KEY`` with HKDF-SHA256, so keys are
    still encrypted at rest on a machine where nobody configured one. Note that
    changing ``SECRET_KEY`` then makes existing keys unreadable (rotate first).
    """
    configured = check_secret("DOPPEL_SIGNING_KEY_PASSPHRASE", settings.DOPPEL_SIGNING_KEY_PASSPHRASE,
                              min_length=16)
    if configured is not None:
        return configured.encode("utf-8")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PASSPHRASE_INFO).derive(
        settings.SECRET_KEY.encode("utf-8")
    )
    return base64.urlsafe_b64encode(derived)


def signer_callback_path() -> str | None:
    return check_callable_path("DOPPEL_SIGNER_CALLBACK", settings.DOPPEL_SIGNER_CALLBACK)


def signer_certs_file() -> Path | None:
    value = settings.DOPPEL_SIGNER_CERTS_FILE
    return Path(value) if value else None


def tsa_url() -> str | None:
    return check_http_url("DOPPEL_TSA_URL", settings.DOPPEL_TSA_URL)


def verify_max_bytes() -> int:
    return check_int("DOPPEL_VERIFY_MAX_BYTES", settings.DOPPEL_VERIFY_MAX_BYTES, minimum=1024)


def check() -> None:
    """Validate every provenance setting; raises ImproperlyConfigured on the first bad one."""
    key_passphrase()
    signer_callback_path()
    tsa_url()
    verify_max_bytes()
