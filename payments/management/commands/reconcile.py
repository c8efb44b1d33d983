"""python manage.py reconcile [--json] [--no-repair]; exit status 1 when differences remain."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from common.errors import DomainError
from common.timefmt import iso
from payments.services import reconcile


class Command(BaseCommand):
    help = ("Compare the ledger with Stripe (transfers, meters, invoices, clearing), list every difference with "
            "what to do, and repair the crash cases (a transfer never posted; a payout reserved but never sent).")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object")
        parser.add_argument("--no-repair", action="store_true", help="Only report")

    def handle(self, *args, json: bool, no_repair: bool, **options):
        try:
            run = reconcile.reconcile(repair=not no_repair, trigger="command")
        except DomainError as exc:
            raise CommandError(exc.message) from None
        result = {"run": run.id, "ok": run.ok, "started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
                  "differences": run.differences, "repairs": run.repairs, "counts": run.counts}
        if json:
            self.stdout.write(_dumps(result))
        else:
            self.stdout.write(f"reconcile {run.id}: {'books agree with Stripe' if run.ok else 'DIFFERENCES'} "
                              f"({len(run.repairs)} repair(s))")
            for r in run.repairs:
                self.stdout.write(f"  repaired: {r}")
            for d in run.differences:
                self.stdout.write(f"  difference: {d['kind']}: {d['action']} {d}")
        if not run.ok:
            raise SystemExit(1)


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True)
