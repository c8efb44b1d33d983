"""Settings helpers that read the environment and fail loudly on bad values.

Every secret also has a ``<NAME>_FILE`` variant (Docker/Kubernetes secrets):
when set, the value is read from that file instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    file_var = os.environ.get(f"{name}_FILE")
    if file_var:
        path = Path(file_var)
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_var!r} cannot be read: {exc}") from exc
    value = os.environ.get(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off"
    )


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is above the maximum {maximum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_path(name: str) -> Path | None:
    """An absolute path (resolved), or None when unset or empty."""
    raw = env_str(name)
    if raw is None or not raw.strip():
        return None
    return Path(raw.strip()).expanduser().resolve()


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (compared lower-case), ``default`` when unset or empty."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={raw!r}: use one of {', '.join(choices)}")
    return value


# --- value checks, shared by settings.py (at start) and the apps' conf modules
# (which re-check values a test or an operator overrides in Django settings) ---


def check_int(name: str, value: object, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) \
            or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ImproperlyConfigured(f"{name}={value!r} must be an integer in [{minimum}, {maximum}]")
    return value


def check_http_url(name: str, value: str | None) -> str | None:
    """An http(s) URL with a host, or None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest or rest.startswith("/"):
        raise ImproperlyConfigured(f"{name}={value!r} must be an http(s) URL")
    return value


def check_callable_path(name: str, value: str | None) -> str | None:
    """``package.module:function``, or None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    module, sep, func = value.partition(":")
    if not sep or not module or not func:
        raise ImproperlyConfigured(f"{name}={value!r}: use 'package.module:function'")
    return value


def check_secret(name: str, value: str | None, *, min_length: int) -> str | None:
    """A secret of at least ``min_length`` characters, or None (unset: the caller derives a default)."""
    if value is None or value == "":
        return None
    if len(value) < min_length:
        raise ImproperlyConfigured(f"{name} must be at least {min_length} characters long")
    return value
