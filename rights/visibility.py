"""Who sees what: the one rule behind shared/API.md's "another party's object is a 404".

One function per object kind. Each answers a ``Q`` over field paths, so it
filters any model that reaches the object through a relation (a generation's
own ``brand``/``performer`` columns, a ledger hold's ``contract``, a posting's
``account__party``) without this module importing the apps that own those
models. Selectors, services, API views and web pages filter with these and
nothing else; what a party may *do* to an object it sees is a separate
question (``rights.auth.roles`` on views, role checks in services).

- a **brand** sees its own contracts and everything under them;
- a **performer** sees their own contracts and everything under them;
- a **union** (auditor) sees what its member performers see, read-only.
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, Q, QuerySet

from rights.models import Contract, Party, PartyKind

M = TypeVar("M", bound=Model)

NOTHING = Q(pk__in=[])


def _at(via: str, field: str) -> str:
    return f"{via}__{field}" if via else field


def contract_q(viewer: Party, *, via: str = "") -> Q:
    """Contracts ``viewer`` may see: a brand its own, a performer theirs, a union
    its members'. ``via`` is the path from the filtered model to its contract
    (``"contract"`` for a ledger hold); a model with its own ``brand`` and
    ``performer`` columns (a generation) uses ``via=""``."""
    if viewer.kind == PartyKind.BRAND:
        return Q(**{_at(via, "brand_id"): viewer.id})
    if viewer.kind == PartyKind.PERFORMER:
        return Q(**{_at(via, "performer_id"): viewer.id})
    if viewer.kind == PartyKind.UNION:
        return Q(**{_at(via, "performer__union_id"): viewer.id})
    return NOTHING


def generation_q(viewer: Party) -> Q:
    """Generations ``viewer`` may see, denials included: those of the contracts it
    sees. A generation carries its contract's brand and performer, so the rule
    reads its own columns (no join)."""
    return contract_q(viewer)


def hold_q(viewer: Party) -> Q:
    """Ledger holds (metered uses, the usage report) of the contracts ``viewer`` sees."""
    return contract_q(viewer, via="contract")


def books_q(viewer: Party, *, via: str = "") -> Q:
    """Parties whose ledger (accounts, balances, statements) ``viewer`` may read:
    itself, and a union its members. ``via`` is the path to the party
    (``"account__party"`` for a posting)."""
    q = Q(**{_at(via, "id"): viewer.id})
    if viewer.kind == PartyKind.UNION:
        # Only performers have a union (constraint party_only_performers_have_union).
        q |= Q(**{_at(via, "union_id"): viewer.id})
    return q


def transaction_scope(transactions: QuerySet[M], *, viewer: Party) -> QuerySet[M]:
    """Ledger transactions ``viewer`` may see: those with a posting on the books of
    a party it may read (``books_q``). Takes the queryset (a transaction is
    visible through its ``postings``, a set, which a plain ``Q`` would join
    into duplicate rows)."""
    touching = transactions.model._default_manager.filter(books_q(viewer, via="postings__account__party"))
    return transactions.filter(pk__in=touching.values("pk"))


def party_q(viewer: Party) -> Q:
    """Party profiles ``viewer`` may read: itself, a union its members, and the
    parties it has a contract with (whatever the contract's status)."""
    q = Q(pk=viewer.id)
    if viewer.kind == PartyKind.UNION:
        q |= Q(union_id=viewer.id)
    return (q | Q(pk__in=Contract.objects.filter(brand_id=viewer.id).values("performer_id"))
            | Q(pk__in=Contract.objects.filter(performer_id=viewer.id).values("brand_id")))


def performer_directory_q(viewer: Party) -> Q:
    """The talent directory: a brand sees every performer (to propose contracts),
    a union its members, a performer nobody."""
    if viewer.kind == PartyKind.BRAND:
        return Q(kind=PartyKind.PERFORMER)
    if viewer.kind == PartyKind.UNION:
        return Q(kind=PartyKind.PERFORMER, union_id=viewer.id)
    return NOTHING


def api_key_q(viewer: Party) -> Q:
    """API keys: a party sees its own (never another's, whatever its role)."""
    return Q(party_id=viewer.id)


def webhook_endpoint_q(viewer: Party, *, via: str = "") -> Q:
    """Webhook endpoints: a brand sees those it registered. ``via`` is the path to
    the endpoint (``"endpoint"`` for a delivery)."""
    return Q(**{_at(via, "brand_id"): viewer.id})


def webhook_delivery_q(viewer: Party) -> Q:
    """Webhook deliveries (the delivery log) of the endpoints ``viewer`` sees."""
    return webhook_endpoint_q(viewer, via="endpoint")


__all__ = [
    "api_key_q", "books_q", "contract_q", "generation_q", "hold_q", "party_q", "performer_directory_q",
    "transaction_scope", "webhook_delivery_q", "webhook_endpoint_q",
]
