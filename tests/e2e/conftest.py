"""Real processes for end-to-end tests: an HTTP server (pytest-django's
live_server, a real threaded WSGI server) and `manage.py qcluster` workers
started as separate processes on the test database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class QCluster:
    """A real `python manage.py qcluster` process group."""

    def __init__(self, log_path: Path, **env_overrides: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOPPEL_")}
        env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url(),
            "DOPPEL_DATA_DIR": str(settings.DATA_DIR),
            "DOPPEL_SECRET_KEY": settings.SECRET_KEY,
            "DOPPEL_Q_WORKERS": "1",
            "DOPPEL_WEBHOOK_ALLOW_PRIVATE": "1",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(env_overrides)
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, start_new_session=True,
            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, no acknowledgement."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """End of a test: a short graceful stop, then no mercy (the test is over)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def qcluster_factory(tmp_path):
    started: list[QCluster] = []

    def start(**env) -> QCluster:
        cluster = QCluster(tmp_path / f"qcluster-{len(started)}.log", **env)
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:  # signal all first, so their grace periods overlap
        if cluster.proc.poll() is None:
            os.killpg(cluster.proc.pid, signal.SIGTERM)
    for cluster in started:
        cluster.stop()
    connection.close()


class Http:
    """A tiny client that speaks to the live server over real sockets."""

    def __init__(self, base: str, key: str | None = None):
        self.base, self.key = base, key

    def request(self, method: str, path: str, body=None, headers=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if self.key:
            req.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                payload, status, rtype = resp.read(), resp.status, resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            payload, status, rtype = exc.read(), exc.code, exc.headers.get("Content-Type", "")
        return status, (json.loads(payload) if "json" in rtype else payload)

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)


def wait_for(predicate, *, timeout: float, interval: float = 0.5, what: str = "condition", on_timeout=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    detail = on_timeout() if on_timeout else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{detail}")


def multipart(field: str, filename: str, data: bytes, mime: str) -> tuple[bytes, str]:
    boundary = "e2eboundary7d1f"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class WebServer:
    """A production-style server (gunicorn) as its own process on the test database."""

    def __init__(self, log_path: Path, port: int, **env_overrides: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOPPEL_")}
        env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url(),
                    "DOPPEL_DATA_DIR": str(settings.DATA_DIR), "DOPPEL_SECRET_KEY": settings.SECRET_KEY,
                    "DOPPEL_HTTPS": "0",  # plain HTTP on loopback (README "Configuration")
                    "PYTHONUNBUFFERED": "1"})
        env.update(env_overrides)
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "2",
             "--timeout", "120"], cwd=ROOT, env=env, start_new_session=True,
            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)
        wait_for(self._up, timeout=60, what="gunicorn to start", on_timeout=lambda: self.log_path.read_text())

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("gunicorn exited:\n" + self.log_path.read_text())
        try:
            urllib.request.urlopen(self.url + "/api/schema/", timeout=2)
            return True
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web_server_factory(tmp_path):
    started: list[WebServer] = []

    def start(**env) -> WebServer:
        server = WebServer(tmp_path / f"web-{len(started)}.log", free_port(), **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
