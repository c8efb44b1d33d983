"""Settings for the test suite: an isolated data dir and a file-backed test DB.

The SQLite test database is a file (not pytest-django's in-memory default) so
that end-to-end tests can start real server and qcluster processes on it.
"""

import os
import tempfile

os.environ.setdefault("DOPPEL_DATA_DIR", tempfile.mkdtemp(prefix="doppel-test-"))
# The test client and live servers speak plain HTTP (README "Configuration": DOPPEL_HTTPS).
os.environ.setdefault("DOPPEL_HTTPS", "0")

from config.settings import *  # noqa: E402,F403
from config.settings import DATA_DIR, DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

# Fast password hashing for the web-login tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
