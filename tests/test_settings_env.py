"""Settings come from the environment with working defaults and loud errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("raw,expected", [("1", True), ("true", True), ("YES", True), ("0", False),
                                          ("off", False), ("", False)])
def test_env_bool(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env.env_bool("X_FLAG", not expected) is expected


def test_env_bool_rejects_garbage(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env.env_bool("X_FLAG", False)


def test_env_int_bounds(monkeypatch):
    monkeypatch.setenv("X_INT", "abc")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env.env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="minimum"):
        env.env_int("X_INT", 1, minimum=1)
    monkeypatch.setenv("X_INT", "7")
    assert env.env_int("X_INT", 1, minimum=1) == 7


def test_file_variant_for_secrets(monkeypatch, tmp_path):
    secret = tmp_path / "s"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("X_SECRET", "from-env")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env.env_str("X_SECRET") == "from-a-file"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env.env_str("X_SECRET")


def _settings_in_subprocess(tmp_path, **environ) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOPPEL_", "DATABASE_URL"))}
    base.update({"DOPPEL_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"})
    base.update(environ)
    code = "import django; django.setup(); from django.conf import settings; " \
           "print(settings.DATABASES['default']['ENGINE'], settings.DEBUG)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True,
                          timeout=60)


def test_defaults_work_with_nothing_configured(tmp_path):
    proc = _settings_in_subprocess(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["django.db.backends.sqlite3", "False"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("var,value,message", [
    ("DOPPEL_DEBUG", "perhaps", "DOPPEL_DEBUG"),
    ("DATABASE_URL", "mysql://u@h/db", "supports sqlite"),
    ("DATABASE_URL", "not a url", "DATABASE_URL"),
    ("DOPPEL_SECRET_KEY", "short", "at least 32"),
    ("DOPPEL_Q_BROKER", "amqp://x", "DOPPEL_Q_BROKER"),
    ("DOPPEL_Q_WORKERS", "0", "minimum"),
])
def test_bad_values_fail_loudly_at_start(tmp_path, var, value, message):
    proc = _settings_in_subprocess(tmp_path, **{var: value})
    assert proc.returncode != 0
    assert "ImproperlyConfigured" in proc.stderr and message in proc.stderr


def test_retry_must_exceed_timeout(tmp_path):
    proc = _settings_in_subprocess(tmp_path, DOPPEL_Q_TIMEOUT="100", DOPPEL_Q_RETRY="50")
    assert proc.returncode != 0 and "DOPPEL_Q_RETRY must exceed" in proc.stderr


def test_postgres_url_is_accepted(tmp_path):
    proc = _settings_in_subprocess(tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:5432/whatever")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "django.db.backends.postgresql"
