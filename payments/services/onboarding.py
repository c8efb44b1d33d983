"""Payee onboarding: a performer or union connects a Stripe Connect Express account."""

from __future__ import annotations

from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from payments import stripe_api
from payments.exceptions import NotAPayee, PayeeAccountNotFound, StripeUnavailable
from payments.models import PayeeAccount
from rights.models import Party, PartyKind

PAYEE_KINDS = (PartyKind.PERFORMER, PartyKind.UNION)


def _state_of(account: Any) -> dict[str, Any]:
    account = stripe_api.plain(account)
    requirements = account.get("requirements") or {}
    return {
        "payouts_enabled": bool(account.get("payouts_enabled")),
        "charges_enabled": bool(account.get("charges_enabled")),
        "details_submitted": bool(account.get("details_submitted")),
        "requirements": list(requirements.get("currently_due") or []),
        "disabled_reason": str(requirements.get("disabled_reason") or "")[:100],
    }


def payee_account_connect(*, party: Party) -> dict[str, Any]:
    """Create (once) the party's Express account and a fresh onboarding link.

    Returns ``{"account", "onboarding_url", "payouts_enabled", "requirements"}``.
    Raises NotAPayee (brands are billed, not paid), StripeNotConfigured, StripeUnavailable.
    The account is created with the idempotency key ``doppel-account-<party>``: a
    retry after a crash gets the same account back."""
    if party.kind not in PAYEE_KINDS:
        raise NotAPayee()
    client = stripe_api.client()
    payee = PayeeAccount.objects.filter(party=party).first()
    try:
        if payee is None:
            account = client.v1.accounts.create(
                params={"type": "express", "country": settings.DOPPEL_STRIPE_CONNECT_COUNTRY,
                        "capabilities": {"transfers": {"requested": True}},
                        "metadata": {"party": party.id, "kind": party.kind}},
                options=stripe_api.key("account", party.id))
            try:
                with transaction.atomic():
                    payee = PayeeAccount.objects.create(party=party, stripe_account=account.id, **_state_of(account))
            except IntegrityError:  # a concurrent request stored it first (same account: same key)
                payee = PayeeAccount.objects.get(party=party)
        link = _onboarding_link(client, payee) if not payee.payouts_enabled else None
    except stripe.StripeError as exc:
        raise StripeUnavailable(f"Stripe refused or did not answer: {stripe_api.describe(exc)[1]}") from exc
    return payee_account_view(payee, onboarding_url=link)


def _onboarding_link(client: stripe.StripeClient, payee: PayeeAccount) -> str:
    url = settings.DOPPEL_PAYOUT_RETURN_URL
    link = client.v1.account_links.create(params={"account": payee.stripe_account, "refresh_url": url,
                                                  "return_url": url, "type": "account_onboarding"})
    return link.url


def payee_account_get(*, party: Party) -> dict[str, Any]:
    """The party's connected account as last reported by Stripe (no Stripe call).
    Raises NotAPayee, PayeeAccountNotFound."""
    if party.kind not in PAYEE_KINDS:
        raise NotAPayee()
    payee = PayeeAccount.objects.filter(party=party).first()
    if payee is None:
        raise PayeeAccountNotFound()
    return payee_account_view(payee, onboarding_url=None)


def payee_account_view(payee: PayeeAccount, *, onboarding_url: str | None) -> dict[str, Any]:
    return {"account": payee.stripe_account, "onboarding_url": onboarding_url,
            "payouts_enabled": payee.payouts_enabled, "details_submitted": payee.details_submitted,
            "requirements": list(payee.requirements or []), "disabled_reason": payee.disabled_reason,
            "updated_at": payee.updated_at}


def payee_account_apply(*, account: dict[str, Any], event_created: int) -> str:
    """Apply an ``account.updated`` object. Returns what happened: ``applied``,
    ``stale`` (an older event than the one applied last), ``adopted`` (an account we
    created but never stored — a crash after Stripe answered — found by its
    ``metadata.party``) or ``unknown`` (not one of ours)."""
    account_id = str(account.get("id") or "")
    with transaction.atomic():
        payee = PayeeAccount.objects.select_for_update().filter(stripe_account=account_id).first()
        outcome = "applied"
        if payee is None:
            party_id = str((account.get("metadata") or {}).get("party") or "")
            party = Party.objects.filter(id=party_id, kind__in=PAYEE_KINDS).first() if party_id else None
            if party is None or PayeeAccount.objects.filter(party=party).exists():
                return "unknown"
            payee = PayeeAccount(party=party, stripe_account=account_id)
            outcome = "adopted"
        elif event_created < payee.stripe_updated:
            return "stale"
        for field, value in _state_of(account).items():
            setattr(payee, field, value)
        payee.stripe_updated = event_created
        payee.updated_at = timezone.now()
        payee.save()
    return outcome
