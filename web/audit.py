"""The union's ledger audit, run on a schedule (``web.schedules``) by the service itself.

``audit_union(union)`` runs the very auditor a union runs from outside
(``ledger.audit.audit``: checkpoint signature, consistency with the last run,
every visible transaction's inclusion proof and arithmetic, balances), but its
HTTP client is replaced by one that calls the service's own API views
in-process, authenticated as the union (no API key is issued, no network): the
same views, serializers and visibility rule a union's key gets. The outcome is
stored as a ``web.models.AuditRun``; the auditor's state (pinned log key, last
verified checkpoint) is carried from the union's previous passed run, so a log
that shrank or forked since is a failure.

A union that trusts nobody runs the same program itself, against our public URL::

    python -m ledger.audit --url https://<doppel host> --key <union API key> --state audit.json
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import urllib.parse
from typing import Any

from django.conf import settings
from django.urls import Resolver404, resolve
from django.utils import timezone
from rest_framework.test import APIRequestFactory, force_authenticate

from ledger import audit as auditor
from rights.models import Party, PartyKind
from web.models import AuditOutcome, AuditRun

AUDIT_COMMAND = "python -m ledger.audit --url {url} --key <your union's API key> --state audit.json"


def _host() -> str:
    for host in settings.ALLOWED_HOSTS:
        if host and host != "*":
            return host.lstrip(".")
    return "localhost"


class InProcessClient(auditor.Client):
    """``ledger.audit.Client`` speaking to this process's own API views as ``party``."""

    def __init__(self, party: Party):
        super().__init__("http://" + _host(), key="")
        self.party = party
        self.factory = APIRequestFactory()

    def get(self, path: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
        parts = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        query.update({k: str(v) for k, v in (params or {}).items()})
        try:
            match = resolve(parts.path)
        except Resolver404:
            return 404, {"error": {"code": "not_found", "message": f"no route {parts.path}"}}
        request = self.factory.get(parts.path, query, HTTP_HOST=_host(), HTTP_ACCEPT="application/json")
        force_authenticate(request, user=self.party)
        response = match.func(request, *match.args, **match.kwargs)
        if hasattr(response, "render"):
            response.render()
        try:
            return response.status_code, json.loads(response.content.decode("utf-8"))
        except ValueError:
            return response.status_code, {"error": {"code": "unknown", "message": response.content[:200]}}


def audit_union(union: Party, *, max_pending_age: float = 600.0) -> AuditRun:
    """Run the auditor as ``union`` and store the outcome (never raises for an audit
    that fails or cannot run: that is the outcome). ``union`` must be a union."""
    if union.kind != PartyKind.UNION:
        raise ValueError(f"{union.id} is a {union.kind}, not a union")
    previous = AuditRun.objects.filter(union=union, outcome=AuditOutcome.PASSED).exclude(state={}).first()
    run = AuditRun(union=union, started_at=timezone.now())
    out = io.StringIO()
    fd, state_path = tempfile.mkstemp(prefix="doppel-audit-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if previous is not None:
                json.dump(previous.state, fh)
        if previous is None:
            os.unlink(state_path)  # no state yet: trust the log key on first use
        report = auditor.audit(url="in-process", key="", state_path=state_path, max_pending_age=max_pending_age,
                               out=out, client=InProcessClient(union))
        run.verified = report.verified
        run.problems, run.notes = report.problems, report.notes
        run.outcome = AuditOutcome.FAILED if report.problems else AuditOutcome.PASSED
        if not report.problems and os.path.exists(state_path):
            with open(state_path, encoding="utf-8") as fh:
                run.state = json.load(fh)
            run.checkpoint_size = run.state.get("size")
    except auditor.AuditError as exc:
        run.outcome = AuditOutcome.ERROR
        run.problems = [f"audit could not run: {exc}"]
    finally:
        if os.path.exists(state_path):
            os.unlink(state_path)
    run.output = out.getvalue()[:20000]
    if run.checkpoint_size is None and run.output.startswith("checkpoint:"):
        try:
            run.checkpoint_size = int(run.output.split(" size ", 1)[1].split()[0])
        except (IndexError, ValueError):
            pass
    run.finished_at = timezone.now()
    run.save()
    return run


def audit_all_unions() -> dict[str, str]:
    """Audit the ledger as each union; ``{union id: outcome}``."""
    return {union.id: audit_union(union).outcome for union in Party.objects.filter(kind=PartyKind.UNION)}


def union_audit_task() -> dict[str, str]:
    """django-q2 task (``web.schedules``)."""
    return audit_all_unions()
