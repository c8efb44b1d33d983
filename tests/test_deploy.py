"""Issue 10 item 16: deployment defaults.

Production settings (DEBUG off, nothing configured) pass ``check --deploy`` with
no warning, redirect to HTTPS with HSTS and Secure-only cookies, send a
Content-Security-Policy that still lets the offline Swagger UI and the admin
run, throttle web logins before any password is hashed, and keep the data dir
and everything in it private to the service account.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client, override_settings
from playwright.sync_api import sync_playwright

from tests.factories import make_party

ROOT = Path(__file__).resolve().parent.parent


def production_env(data_dir: Path, **extra: str) -> dict:
    """The environment of a production process: no DOPPEL_* variable set (DEBUG off,
    HTTPS on by default), embedded SQLite in ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOPPEL_") and k != "DATABASE_URL"}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DOPPEL_DATA_DIR": str(data_dir),
                "DOPPEL_LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


def run(args: list[str], env: dict, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def run_python(code: str, env: dict) -> dict:
    """Run ``code`` after ``django.setup()`` in a fresh process; it prints one JSON object."""
    script = "import django, json\ndjango.setup()\n" + textwrap.dedent(code)
    proc = run([sys.executable, "-c", script], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- manage.py check --deploy ----------------------------------------------------------------


def test_production_settings_pass_check_deploy_with_no_warning(tmp_path):
    proc = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
               production_env(tmp_path / "var"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "System check identified no issues (0 silenced)." in proc.stdout


def test_the_plain_http_switch_is_what_check_deploy_warns_about(tmp_path):
    """DOPPEL_HTTPS=0 (the demo, tests and benches on loopback) is not a production setting."""
    proc = run([sys.executable, "manage.py", "check", "--deploy"],
               production_env(tmp_path / "var", DOPPEL_HTTPS="0"))
    for code in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert code in proc.stderr + proc.stdout, code


# --- HTTPS, HSTS, cookies, CSP in production ----------------------------------------------------

PROBE = """
from django.test import Client
out = {}
c = Client()
r = c.get("/api/docs/")
out["plain"] = [r.status_code, r.headers.get("Location")]
r = c.get("/api/docs/", HTTP_X_FORWARDED_PROTO="https")
out["forwarded"] = r.status_code
r = c.get("/api/docs/", secure=True)
out["docs"] = [r.status_code, r.headers.get("Strict-Transport-Security"), r.headers.get("Content-Security-Policy")]
r = c.get("/accounts/login/", secure=True)
out["csrf_cookie"] = [r.status_code, bool(r.cookies["csrftoken"]["secure"]), r.cookies["csrftoken"]["samesite"]]
print(json.dumps(out))
"""


def test_production_redirects_to_https_with_hsts_secure_cookies_and_csp(tmp_path):
    out = run_python(PROBE, production_env(tmp_path / "var"))
    assert out["plain"] == [301, "https://testserver/api/docs/"]
    assert out["forwarded"] == 301  # a client's own X-Forwarded-Proto is not believed
    status, hsts, csp = out["docs"]
    assert status == 200
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert out["csrf_cookie"] == [200, True, "Lax"]


def test_behind_a_trusted_proxy_its_x_forwarded_proto_counts(tmp_path):
    out = run_python(PROBE, production_env(tmp_path / "var", DOPPEL_PROXY_COUNT="1"))
    assert out["forwarded"] == 200
    assert out["plain"][0] == 301


def test_plain_http_switch_serves_loopback_without_redirects_or_hsts(tmp_path):
    out = run_python(PROBE, production_env(tmp_path / "var", DOPPEL_HTTPS="0"))
    assert out["plain"] == [200, None]
    assert out["docs"][1] is None  # no HSTS
    assert out["csrf_cookie"][1] is False


# --- the Content-Security-Policy keeps the docs and the admin working -----------------------------


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts: list[dict] = []  # attrs of every <script>, with its inline text
        self.handlers: list[str] = []  # inline event handler attributes (onclick=…)
        self.inline_styles: list[str] = []  # style="…" attributes and <style> blocks
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.handlers += [name for name in attrs if name.startswith("on")]
        self.inline_styles += [f"{tag} style" for name in attrs if name == "style"]
        if tag == "style":
            self.inline_styles.append("<style>")
        if tag == "script":
            self._open = {**attrs, "text": ""}
            self.scripts.append(self._open)

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = None


def _policy(resp) -> dict[str, list[str]]:
    header = resp.headers["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in header.split(";")) if d}


def _executable_inline(scripts: list[dict]) -> list[dict]:
    """Inline scripts a browser would run (a JSON data block is not run, so CSP allows it)."""
    return [s for s in scripts if "src" not in s and s.get("type") != "application/json" and s["text"].strip()]


def test_csp_allows_the_swagger_ui_its_own_static_scripts_and_nothing_inline(db):
    client = Client()
    page = client.get("/api/docs/")
    assert page.status_code == 200
    policy = _policy(page)
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no host
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    tags = _Tags()
    tags.feed(page.content.decode())
    assert _executable_inline(tags.scripts) == [] and tags.handlers == []
    sources = [s["src"] for s in tags.scripts]
    assert len(sources) == 3, sources  # the bundle, the preset and the init script
    for src in sources:
        assert src.startswith("/") and not src.startswith("//"), src  # same origin: 'self'
        resp = client.get(src)
        assert resp.status_code == 200, src
        assert "javascript" in resp.headers["Content-Type"], (src, resp.headers["Content-Type"])
    init = client.get(next(s for s in sources if "script" in s)).content.decode()
    assert "SwaggerUIBundle" in init and "/api/schema/" in init
    # No inline style but the page's own <style> block, allowed by its hash; Swagger's data: icons.
    assert "'unsafe-inline'" not in policy["style-src"]
    styles = re.findall(r"<style[^>]*>(.*?)</style>", page.content.decode(), re.S)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy["style-src"]
    assert "data:" in policy["img-src"]
    assert policy["connect-src"] == ["'self'"]  # the schema fetch


@pytest.mark.django_db
def test_csp_keeps_the_admin_working(admin_client, admin_user, cast):
    from tests.factories import make_contract
    # admin_user has TOTP set up (tests/conftest.py): staff must (web.middleware).
    contract = make_contract(cast.brand, cast.performer)
    pages = ["/admin/", "/admin/rights/contract/", f"/admin/rights/contract/{contract.id}/change/",
             f"/admin/rights/party/{cast.performer.id}/change/", "/admin/auth/user/add/"]
    for url in pages + ["/accounts/login/", "/accounts/password/reset/"]:
        client = Client() if url.startswith("/accounts/") else admin_client
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert _policy(resp)["script-src"] == ["'self'"], url
        tags = _Tags()
        tags.feed(resp.content.decode())
        assert _executable_inline(tags.scripts) == [], url
        assert tags.handlers == [] and tags.inline_styles == [], url
        for src in (s["src"] for s in tags.scripts if "src" in s):
            assert src.startswith("/") and not src.startswith("//"), (url, src)  # same origin: 'self'
            assert client.get(src).status_code == 200, src


# --- login throttling (django-axes) -----------------------------------------------------------


class HasherCalls:
    """Counts password hashing: a verify for a known user, an encode for an unknown one
    (Django hashes anyway, to make both take the same time)."""

    def __init__(self, monkeypatch):
        self.count = 0
        verify, encode = MD5PasswordHasher.verify, MD5PasswordHasher.encode

        def counted(fn):
            def wrapper(*args, **kwargs):
                self.count += 1
                return fn(*args, **kwargs)
            return wrapper

        monkeypatch.setattr(MD5PasswordHasher, "verify", counted(verify))
        monkeypatch.setattr(MD5PasswordHasher, "encode", counted(encode))


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", email="ops@example.org", password="correct horse battery",
                                                 is_staff=True)


def _login(client, username, password, **meta):
    """The admin's sign-in is allauth's (config/urls.py: secure_admin_login), by e-mail."""
    return client.post("/accounts/login/?next=/admin/", {"login": f"{username}@example.org", "password": password},
                       **meta)


@pytest.mark.parametrize("username", ["ops", "nobody"])
def test_the_sixth_bad_login_is_locked_out_without_hashing_a_password(db, staff, monkeypatch, username):
    hashed = HasherCalls(monkeypatch)
    client = Client()
    for attempt in range(1, 6):
        before = hashed.count
        resp = _login(client, username, f"wrong-{attempt}")
        if attempt < 5:
            assert resp.status_code == 200 and b"password you specified are not correct" in resp.content
        else:  # the fifth failure reaches the limit: its answer is already the lockout
            assert resp.status_code == 429
        assert hashed.count > before  # these five ran the hasher
    before = hashed.count
    locked = _login(client, username, "wrong-6")
    assert locked.status_code == 429
    assert hashed.count == before  # refused before any hashing
    # Locked means locked: even the right password from that address is refused, unhashed.
    assert _login(client, "ops", "correct horse battery").status_code == 429
    assert hashed.count == before


def test_another_address_can_still_log_in(db, staff):
    for attempt in range(6):
        _login(Client(), "ops", f"wrong-{attempt}", REMOTE_ADDR="198.51.100.7")
    resp = _login(Client(), "ops", "correct horse battery", REMOTE_ADDR="198.51.100.8")
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"


def test_a_forged_x_forwarded_for_does_not_escape_the_lockout(db, staff):
    """Without a trusted proxy (the default) the header is the client's word and ignored."""
    statuses = [_login(Client(), "ops", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
                for i in range(7)]
    assert statuses == [200] * 4 + [429] * 3


@override_settings(AXES_IPWARE_PROXY_COUNT=0, AXES_IPWARE_META_PRECEDENCE_ORDER=("HTTP_X_FORWARDED_FOR",
                                                                                  "REMOTE_ADDR"))
def test_behind_one_proxy_the_address_it_appended_is_the_client(db, staff):
    """DOPPEL_PROXY_COUNT=1: the proxy appends the address it saw; entries to its left are forged."""
    statuses = [_login(Client(), "ops", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.9.{i}, 203.0.113.50",
                       REMOTE_ADDR="10.0.0.2").status_code for i in range(6)]
    assert statuses == [200] * 4 + [429] * 2
    other = _login(Client(), "ops", "correct horse battery", HTTP_X_FORWARDED_FOR="203.0.113.51",
                   REMOTE_ADDR="10.0.0.2")
    assert other.status_code == 302


def test_proxy_count_setting_maps_to_ipware(tmp_path):
    code = """
    from django.conf import settings as s
    print(json.dumps([s.AXES_IPWARE_PROXY_COUNT, list(s.AXES_IPWARE_META_PRECEDENCE_ORDER),
                      list(s.SECURE_PROXY_SSL_HEADER or [])]))
    """
    assert run_python(code, production_env(tmp_path / "a")) == [None, ["REMOTE_ADDR"], []]
    assert run_python(code, production_env(tmp_path / "b", DOPPEL_PROXY_COUNT="2")) == [
        1, ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"], ["HTTP_X_FORWARDED_PROTO", "https"]]


# --- the data dir and its files are private ---------------------------------------------------

WRITE_EVERYTHING = """
import os
from pathlib import Path
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from provenance import keys
from ledger.log.keys import log_signer
from gateway.management.commands.demo import _private_log
from gateway.pipeline import assets_dir

keys.ensure_keys()                                   # root CA, signing key and certificates
log_signer()                                         # the log's Ed25519 key
default_storage.save("portraits/p.jpg", ContentFile(b"jpeg"))   # media
(assets_dir() / "gen_x-a1.mp4").write_bytes(b"mp4")  # a delivered asset, as the pipeline writes it
logs = settings.DATA_DIR / "logs"
logs.mkdir(mode=0o700, exist_ok=True)
old = logs / "web.log"
old.write_text("an older run's log")
old.chmod(0o644)
_private_log(old).close()                            # the demo reopens (and closes) older logs too
_private_log(logs / "qcluster.log").close()
with connection.cursor() as cursor:                  # WAL and SHM exist while a connection is open
    cursor.execute("INSERT INTO django_content_type (app_label, model) VALUES ('x', 'y')")
    modes = {}
    for path in sorted(settings.DATA_DIR.rglob("*")):
        modes[str(path.relative_to(settings.DATA_DIR))] = oct(path.stat().st_mode & 0o777)
modes["."] = oct(settings.DATA_DIR.stat().st_mode & 0o777)
print(json.dumps(modes))
"""


def test_a_fresh_data_dir_and_every_file_in_it_are_private(tmp_path):
    data_dir = tmp_path / "var"
    env = production_env(data_dir)
    migrated = run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], env, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    modes = run_python(WRITE_EVERYTHING, env)
    for name in ("doppel.sqlite3", "doppel.sqlite3-wal", "doppel.sqlite3-shm", "secret_key", "logs/web.log",
                 "logs/qcluster.log", "keys/root-ca.key.pem", "keys/root-ca.crt.pem", "media/portraits/p.jpg",
                 "assets/gen_x-a1.mp4"):
        assert modes.get(name) == "0o600", (name, modes.get(name))
    wrong = {name: mode for name, mode in modes.items()
             if mode != ("0o700" if (data_dir / name).is_dir() or name == "." else "0o600")}
    assert wrong == {}
    assert any(name.startswith("keys/signing/") for name in modes)


def test_an_existing_world_readable_data_dir_is_closed_at_start(tmp_path):
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    proc = run([sys.executable, "manage.py", "check"], production_env(data_dir))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_settings_document_the_switches():
    readme = (ROOT / "README.md").read_text()
    for name in ("DOPPEL_HTTPS", "DOPPEL_PROXY_COUNT", "DOPPEL_HSTS_SECONDS", "DOPPEL_LOGIN_FAILURE_LIMIT",
                 "DOPPEL_LOGIN_COOLOFF_S"):
        assert re.search(rf"^\| .*`{name}`", readme, re.M), name


# --- in a real browser: no CSP violation on the docs and the admin ------------------------------

CHROMIUM = Path("/usr/bin/chromium")
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
    e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.mark.browser
def test_swagger_ui_and_admin_run_under_the_csp_in_a_browser(live_server, django_user_model):
    # No silent skip: scripts/test.sh installs Debian's chromium (DOPPEL_SETUP_BROWSER=1).
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install chromium"
    from tests.web.conftest import give_totp, totp_code

    staff = django_user_model.objects.create_superuser("ops", email="ops@example.org",
                                                       password="correct horse battery")
    secret = give_totp(staff).secret
    party, _ = make_party("brand", "Acme")
    console: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.add_init_script(WATCH_CSP)
            page.on("console", lambda msg: console.append(msg.text))
            page.goto(f"{live_server.url}/api/docs/")
            page.wait_for_selector(".opblock", timeout=30_000)  # Swagger UI rendered the operations
            assert page.locator(".opblock").count() > 20
            page.locator(".opblock-summary").first.click()  # expand an operation: parameters, schemas
            page.wait_for_selector(".opblock-body")
            page.locator(".try-out__btn").first.click()
            page.locator(".models-control").first.click()  # the schemas section
            page.wait_for_timeout(500)
            docs_violations = page.evaluate("window.__csp")
            page.goto(f"{live_server.url}/admin/login/?next=/admin/rights/contract/")  # → allauth's sign-in
            page.fill("#id_login", "ops@example.org")
            page.fill("#id_password", "correct horse battery")
            page.click("button[type=submit]")
            page.wait_for_url("**/accounts/2fa/authenticate/**")  # staff: the second factor
            page.fill("input[name=code]", totp_code(secret))
            page.click("button[type=submit]")
            page.wait_for_url("**/admin/rights/contract/")
            admin_violations = page.evaluate("window.__csp")
            page.goto(f"{live_server.url}/admin/auth/user/add/")  # a form with the admin's widgets' JS
            page.wait_for_selector("#id_username")
            page.goto(f"{live_server.url}/admin/rights/party/{party.id}/change/")  # inlines, actions
            page.wait_for_selector("#api_keys-group")
            page.goto(f"{live_server.url}/admin/rights/party/")
            page.locator("#action-toggle").check()  # the changelist's actions JS
            form_violations = page.evaluate("window.__csp")
        finally:
            browser.close()
    assert docs_violations == [] and admin_violations == [] and form_violations == []
    assert not [m for m in console if "Content Security Policy" in m], console
