"""Settings come from the environment with working defaults and loud errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env
from ledger import conf as ledger_conf
from provenance import conf as provenance_conf

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


def _manage_check(tmp_path, **environ) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOPPEL_", "DATABASE_URL"))}
    base.update({"DOPPEL_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"})
    base.update(environ)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=base, capture_output=True,
                          text=True, timeout=120)


# Every setting is read once, at start: a malformed value of any app's setting
# stops `manage.py check` (and so every process) instead of the first request
# or signing that would need it.
@pytest.mark.parametrize("var,value,message", [
    ("DOPPEL_TSA_URL", "ftp://tsa.example", "DOPPEL_TSA_URL"),
    ("DOPPEL_TSA_URL", "tsa.example", "DOPPEL_TSA_URL"),
    ("DOPPEL_SIGNER_CALLBACK", "no-colon-here", "module:function"),
    ("DOPPEL_SIGNING_KEY_PASSPHRASE", "short", "at least 16"),
    ("DOPPEL_VERIFY_MAX_BYTES", "12", "minimum"),
    ("DOPPEL_PLATFORM_FEE_BPS", "10001", "maximum"),
    ("DOPPEL_DEFAULT_PH_BPS", "ten", "not an integer"),
    ("DOPPEL_LEDGER_SEQUENCE_NUDGE", "sometimes", "DOPPEL_LEDGER_SEQUENCE_NUDGE"),
    ("DOPPEL_LOG_ORIGIN", "doppel ledger", "DOPPEL_LOG_ORIGIN"),
    ("DOPPEL_LOG_ORIGIN", "doppel+ledger", "DOPPEL_LOG_ORIGIN"),
    ("DOPPEL_RENDER_DEVICE", "tpu", "DOPPEL_RENDER_DEVICE"),
    ("DOPPEL_RENDER_THREADS", "0", "minimum"),
    ("DOPPEL_RENDER_X264_PRESET", "warp", "DOPPEL_RENDER_X264_PRESET"),
])
def test_bad_app_settings_stop_manage_py_check(tmp_path, var, value, message):
    proc = _manage_check(tmp_path, **{var: value})
    assert proc.returncode != 0
    assert "ImproperlyConfigured" in proc.stderr and message in proc.stderr, proc.stderr[-2000:]


def test_good_app_settings_pass_check_and_are_read_into_settings(tmp_path):
    chain = tmp_path / "chain.pem"
    chain.write_text("-")
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple\n")
    environ = {"DOPPEL_TSA_URL": "https://tsa.example/rfc3161", "DOPPEL_SIGNER_CALLBACK": "kms.module:sign",
               "DOPPEL_SIGNING_KEY_PASSPHRASE_FILE": str(secret), "DOPPEL_SIGNER_CERTS_FILE": str(chain),
               "DOPPEL_LOG_ORIGIN": "example.org/doppel", "DOPPEL_PLATFORM_FEE_BPS": "250",
               "DOPPEL_EXTRA_PLATFORMS": "Vimeo, twitch", "DOPPEL_RENDER_DEVICE": "CPU"}
    assert _manage_check(tmp_path, **environ).returncode == 0
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOPPEL_", "DATABASE_URL"))}
    base.update({"DOPPEL_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings", **environ})
    code = ("import django; django.setup(); from django.conf import settings as s; from rights import vocab; "
            "print(s.DOPPEL_TSA_URL, s.DOPPEL_SIGNER_CALLBACK, s.DOPPEL_SIGNING_KEY_PASSPHRASE.replace(' ', '_'), "
            "s.DOPPEL_SIGNER_CERTS_FILE.name, s.DOPPEL_LOG_ORIGIN, s.DOPPEL_PLATFORM_FEE_BPS, "
            "vocab.platforms()[-2:], s.DOPPEL_RENDER_DEVICE)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["https://tsa.example/rfc3161", "kms.module:sign", "correct_horse_battery_staple",
                                   "chain.pem", "example.org/doppel", "250", "('vimeo',", "'twitch')", "cpu"]


def test_overridden_settings_are_checked_again_where_they_are_used(settings):
    settings.DOPPEL_TSA_URL = "ftp://nope"
    with pytest.raises(ImproperlyConfigured, match="DOPPEL_TSA_URL"):
        provenance_conf.tsa_url()
    settings.DOPPEL_PLATFORM_FEE_BPS = -1
    with pytest.raises(ImproperlyConfigured, match="DOPPEL_PLATFORM_FEE_BPS"):
        ledger_conf.platform_fee_bps()
    settings.DOPPEL_LOG_ORIGIN = "has space"
    with pytest.raises(ImproperlyConfigured, match="DOPPEL_LOG_ORIGIN"):
        ledger_conf.log_origin()
