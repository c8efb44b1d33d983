"""Ledger settings: a Django setting of the same name wins, else the environment,
else a working default. Read at call time so tests can override them."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_str
from ledger.checkpoint import NoteError, check_name


def _int(name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    value = getattr(settings, name, None)
    if value is None:
        return env_int(name, default, minimum=minimum, maximum=maximum)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        raise ImproperlyConfigured(f"{name}={value!r} must be an integer in [{minimum}, {maximum}]")
    return value


def platform_fee_bps() -> int:
    """Our fee on platforms without a ``PlatformFee`` row (basis points of the performer's royalty)."""
    return _int("DOPPEL_PLATFORM_FEE_BPS", 1000, minimum=0, maximum=10000)


def default_pension_health_bps() -> int:
    """P&H rate for a union that has not set ``pension_health_bps``."""
    return _int("DOPPEL_DEFAULT_PH_BPS", 1000, minimum=0, maximum=10000)


def hold_ttl() -> timedelta:
    return timedelta(seconds=_int("DOPPEL_HOLD_TTL_S", 6 * 3600, minimum=60))


def sequence_nudge() -> bool:
    """Whether a posting asks a worker to sequence the log soon after commit."""
    value = getattr(settings, "DOPPEL_LEDGER_SEQUENCE_NUDGE", None)
    return env_bool("DOPPEL_LEDGER_SEQUENCE_NUDGE", True) if value is None else bool(value)


def sequence_nudge_interval_s() -> float:
    return _int("DOPPEL_LEDGER_SEQUENCE_NUDGE_MS", 1000, minimum=0) / 1000


def log_origin() -> str:
    origin = getattr(settings, "DOPPEL_LOG_ORIGIN", None) or env_str("DOPPEL_LOG_ORIGIN") or "doppel.local/ledger"
    try:
        return check_name(origin)
    except NoteError as exc:
        raise ImproperlyConfigured(f"DOPPEL_LOG_ORIGIN: {exc}") from None


def log_key_path() -> Path:
    return Path(settings.DATA_DIR) / "keys" / "ledger_log_ed25519.pem"


def log_key_passphrase() -> bytes:
    """DOPPEL_LOG_KEY_PASSPHRASE (or ..._FILE); else derived from SECRET_KEY, so a
    working default needs no configuration (changing SECRET_KEY then locks the key)."""
    configured = env_str("DOPPEL_LOG_KEY_PASSPHRASE")
    if configured:
        return configured.encode("utf-8")
    return hmac.new(settings.SECRET_KEY.encode("utf-8"), b"doppel ledger log key", hashlib.sha256).hexdigest().encode()
