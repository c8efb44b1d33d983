"""The ledger's settings, as Django settings (read once from the environment by
config/settings.py). Accessors re-check the value in force, so that a test or an
operator overriding a setting gets the same loud error as a bad environment;
``check()`` runs them all when the app starts (``LedgerConfig.ready``), so a
malformed value stops ``manage.py check`` and every process with
``ImproperlyConfigured``."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import check_int
from ledger.log.checkpoint import NoteError, check_name


def platform_fee_bps() -> int:
    """Our fee on platforms without a ``PlatformFee`` row (basis points of the performer's royalty)."""
    return check_int("DOPPEL_PLATFORM_FEE_BPS", settings.DOPPEL_PLATFORM_FEE_BPS, minimum=0, maximum=10000)


def default_pension_health_bps() -> int:
    """P&H rate for a union that has not set ``pension_health_bps``."""
    return check_int("DOPPEL_DEFAULT_PH_BPS", settings.DOPPEL_DEFAULT_PH_BPS, minimum=0, maximum=10000)


def hold_ttl() -> timedelta:
    return timedelta(seconds=check_int("DOPPEL_HOLD_TTL_S", settings.DOPPEL_HOLD_TTL_S, minimum=60))


def sequence_nudge() -> bool:
    """Whether a posting asks a worker to sequence the log soon after commit."""
    return bool(settings.DOPPEL_LEDGER_SEQUENCE_NUDGE)


def sequence_nudge_interval_s() -> float:
    return check_int("DOPPEL_LEDGER_SEQUENCE_NUDGE_MS", settings.DOPPEL_LEDGER_SEQUENCE_NUDGE_MS, minimum=0) / 1000


def log_origin() -> str:
    """The checkpoint origin (C2SP signed-note key name rules: printable, no spaces, no '+')."""
    try:
        return check_name(settings.DOPPEL_LOG_ORIGIN)
    except NoteError as exc:
        raise ImproperlyConfigured(f"DOPPEL_LOG_ORIGIN: {exc}") from None


def log_key_path() -> Path:
    return Path(settings.DATA_DIR) / "keys" / "ledger_log_ed25519.pem"


def log_key_passphrase() -> bytes:
    """DOPPEL_LOG_KEY_PASSPHRASE (or ..._FILE); else derived from SECRET_KEY, so a
    working default needs no configuration (changing SECRET_KEY then locks the key)."""
    configured = settings.DOPPEL_LOG_KEY_PASSPHRASE
    if configured:
        return configured.encode("utf-8")
    return hmac.new(settings.SECRET_KEY.encode("utf-8"), b"doppel ledger log key", hashlib.sha256).hexdigest().encode()


def check() -> None:
    """Validate every ledger setting; raises ImproperlyConfigured on the first bad one."""
    platform_fee_bps()
    default_pension_health_bps()
    hold_ttl()
    sequence_nudge_interval_s()
    log_origin()
