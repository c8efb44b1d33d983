"""The log's Ed25519 signing key: created on first need, encrypted at rest.

``DATA_DIR/keys/ledger_log_ed25519.pem`` holds a PKCS#8 PEM encrypted with
``conf.log_key_passphrase()``. Two processes creating it at once cannot end up
with two keys: each writes a private temporary file and ``link()``s it into
place, which fails for all but the first.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured

from ledger import conf
from ledger.log.checkpoint import raw_public_key, verifier_key


@dataclass(frozen=True)
class LogSigner:
    name: str
    private_key: Ed25519PrivateKey
    verifier_key: str


_lock = threading.Lock()
_cache: dict[tuple[Path, str], LogSigner] = {}


def log_signer() -> LogSigner:
    path, name = conf.log_key_path(), conf.log_origin()
    with _lock:
        signer = _cache.get((path, name))
        if signer is None:
            key = _load_or_create(path, conf.log_key_passphrase())
            signer = LogSigner(name=name, private_key=key, verifier_key=verifier_key(name, raw_public_key(key.public_key())))
            _cache[(path, name)] = signer
        return signer


def _load_or_create(path: Path, passphrase: bytes) -> Ed25519PrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process won the race; use its key
        finally:
            tmp.unlink(missing_ok=True)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"The ledger log key {path} cannot be decrypted ({exc}). Was DOPPEL_LOG_KEY_PASSPHRASE "
            "or DOPPEL_SECRET_KEY changed? Restore it; a new key would break the log's continuity."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"The ledger log key {path} is not an Ed25519 key")
    return key
