"""python manage.py payouts_run [--dry-run] [--json] [--currency USD ...]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from common.errors import DomainError
from payments.currencies import UnsupportedCurrency, currency
from payments.models import Payout
from payments.services import payouts


class Command(BaseCommand):
    help = ("Pay every payee's available balance above the minimum, per currency, as Stripe transfers "
            "(finishing payouts left pending first). Safe to rerun: nothing is paid twice.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Reserve and send nothing; list what would be paid")
        parser.add_argument("--json", action="store_true", help="Print one JSON object")
        parser.add_argument("--currency", action="append", default=[], help="Only these currencies (repeatable)")

    def handle(self, *args, dry_run: bool, json: bool, currency: list[str], **options):
        codes = set()
        for code in currency:
            try:
                codes.add(_check(code.upper()))
            except UnsupportedCurrency as exc:
                raise CommandError(str(exc)) from None
        try:
            run = payouts.payouts_run(dry_run=dry_run, currencies=codes or None, trigger="command")
        except DomainError as exc:
            raise CommandError(exc.message) from None
        made = [payouts.payout_view(p) for p in Payout.objects.filter(run=run).order_by("created_at", "id")]
        result = {"run": run.id, "dry_run": run.dry_run, **run.summary, "payouts": made}
        if json:
            self.stdout.write(_dumps(result))
            return
        counts = run.summary.get("counts", {})
        self.stdout.write(f"payout run {run.id}{' (dry run)' if dry_run else ''}: "
                          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to do")
        for p in made:
            self.stdout.write(f"  {p['id']} {p['amount']} {p['currency']} → {p['destination']} {p['status']}"
                              f" {p['transfer'] or ''}")
        for p in run.summary.get("planned", []):
            self.stdout.write(f"  would pay {p['amount']} {p['currency']} to {p['payee']} ({p['destination']})")
        for e in run.summary.get("errors", []):
            self.stderr.write(f"  error: {e}")


def _check(code: str) -> str:
    currency(code)
    return code


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True)
