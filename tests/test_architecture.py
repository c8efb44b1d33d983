"""The layering of the tree, checked on every run (issue 9 "One house before it grows").

* ``intake/`` (media header checks) is a standard-library-only module: it imports
  nothing of the project; ``renderer/`` is a library: it imports nothing of the
  project but ``intake``.
* ``fakestripe/`` (the local fake Stripe server for tests and the demo) imports nothing of the
  project.
* ``common/`` is the shared toolkit: it imports no app.
* No module of ``rights/``, ``ledger/``, ``provenance/`` or ``renderer/`` imports
  ``gateway`` (the gateway composes them, never the reverse); ``payments`` builds on
  ``ledger`` and ``rights``, and neither imports it (nor ``stripe``).
* No app imports another app's ``views``, ``serializers`` or ``admin``: what
  apps share lives in ``common/`` or in the owning app's services/selectors.

Imports are read with ``ast`` from the source, including imports inside
functions, so a hidden import counts as much as a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("rights", "ledger", "provenance", "payments", "gateway", "web")
PROJECT = ("common", "config", *APPS, "renderer", "intake")
EDGE_MODULES = ("views", "serializers", "admin")


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if ".venv" not in p.parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in ``path``; relative imports resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    return _imports_of(path.read_text(encoding="utf-8"), package)


def _imports_of(source: str, package: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            # `from ledger import services` imports ledger.services: count the names as modules too.
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _violations(packages: tuple[str, ...], forbidden) -> list[str]:
    out = []
    for package in packages:
        for path in _modules(package):
            for line, name in _imports(path):
                why = forbidden(package, name)
                if why:
                    out.append(f"{path.relative_to(ROOT)}:{line} imports {name} ({why})")
    return sorted(set(out))


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def test_the_renderer_imports_nothing_of_the_project_but_intake():
    assert _violations(("renderer",), lambda pkg, name: "the renderer is a library"
                       if _top(name) in PROJECT and _top(name) not in ("renderer", "intake") else None) == []


def test_intake_imports_nothing_of_the_project():
    assert _violations(("intake",), lambda pkg, name: "intake is below everything"
                       if _top(name) in PROJECT and _top(name) != "intake" else None) == []


def test_fakestripe_imports_nothing_of_the_project():
    assert _violations(("fakestripe",), lambda pkg, name: "the fake Stripe server stands alone"
                       if _top(name) in PROJECT else None) == []


def test_common_imports_no_app():
    assert _violations(("common",), lambda pkg, name: "common/ is below every app"
                       if _top(name) in (*APPS, "renderer", "intake") else None) == []


def test_no_domain_app_imports_the_gateway():
    assert _violations(("rights", "ledger", "provenance", "payments", "renderer"),
                       lambda pkg, name: "the gateway composes the apps" if _top(name) == "gateway" else None) == []


def test_the_ledger_knows_nothing_of_stripe():
    """Payments build on the ledger; the ledger stays the source of truth and never calls out."""
    assert _violations(("ledger", "rights"), lambda pkg, name: "payments builds on the ledger, not the reverse"
                       if _top(name) in ("payments", "stripe") else None) == []


def test_no_app_imports_another_apps_views_serializers_or_admin():
    def forbidden(pkg: str, name: str) -> str | None:
        parts = name.split(".")
        if parts[0] in APPS and parts[0] != pkg and len(parts) > 1 and parts[1] in EDGE_MODULES:
            if pkg == "web" and parts[1] == "serializers":
                return None  # the web pages validate the same input as the API, with its input serializers
            return f"{parts[1]} belong to {parts[0]}"
        return None

    assert _violations(APPS, forbidden) == []


def test_no_app_imports_the_web_app():
    """The web pages are an edge over the services, like the API views: nothing depends on them."""
    assert _violations(("rights", "ledger", "provenance", "payments", "gateway", "renderer", "common"),
                       lambda pkg, name: "the web app is an edge" if _top(name) == "web" else None) == []


@pytest.mark.parametrize("source,expected", [
    ("from gateway import services\n", "gateway.services"),
    ("from .views import X\n", "rights.views.X"),
    ("def f():\n    import gateway.models\n", "gateway.models"),
])
def test_the_import_reader_sees_every_form(source, expected):
    """The checks above are only as good as the reader: it must see `from x import y`,
    relative imports and imports hidden in functions."""
    assert expected in [name for _, name in _imports_of(source, "rights")]
