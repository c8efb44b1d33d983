"""The one rule of who sees what (``rights.visibility``), object kind by object kind,
with the owner / member / outsider cast: brand owns a contract with performer, a
member of union; other_brand, other_performer and other_union are outsiders."""

from __future__ import annotations

import pytest

from gateway.models import Generation, GenerationStatus, WebhookDelivery, WebhookEndpoint
from ledger import services as ledger
from ledger.models import Hold, Transaction
from rights import visibility
from rights.models import ApiKey, Contract, Party
from tests.factories import make_contract

CAST = ("brand", "performer", "union", "other_brand", "other_performer", "other_union")
# Who sees the contract and everything under it (generations, holds, royalty transactions).
SEES_THE_CONTRACT = {"brand", "performer", "union"}


@pytest.fixture
def contract(cast):
    return make_contract(cast.brand, cast.performer)


def _who(cast, model, rule, obj) -> set[str]:
    return {who for who in CAST if model.objects.filter(rule(getattr(cast, who)), pk=obj.pk).exists()}


def test_contracts(cast, contract):
    assert _who(cast, Contract, visibility.contract_q, contract) == SEES_THE_CONTRACT


def test_generations_follow_their_contract_including_denials(cast, contract):
    gen = Generation.objects.create(contract=contract, brand=cast.brand, performer=cast.performer, script="Hi",
                                    platform="tiktok", category="food", language="en", territory="US",
                                    profile="vertical", status=GenerationStatus.DENIED)
    assert _who(cast, Generation, visibility.generation_q, gen) == SEES_THE_CONTRACT


def test_holds_and_royalty_transactions(cast, contract):
    hold = ledger.hold_create(contract=contract, reference="gen_x", idempotency_key="vis-hold")
    assert _who(cast, Hold, visibility.hold_q, hold) == SEES_THE_CONTRACT
    txn = ledger.hold_post(hold=hold, duration_s=2.0, idempotency_key="vis-post")
    seen = {who for who in CAST
            if visibility.transaction_scope(Transaction.objects.all(), viewer=getattr(cast, who)).filter(pk=txn.pk)}
    assert seen == SEES_THE_CONTRACT
    # One row per transaction, however many of its postings the viewer's books hold.
    assert visibility.transaction_scope(Transaction.objects.all(), viewer=cast.union).count() == 1


def test_books_a_party_and_a_union_its_members(cast):
    def books(who):
        return set(Party.objects.filter(visibility.books_q(getattr(cast, who))).values_list("id", flat=True))

    assert books("brand") == {cast.brand.id}
    assert books("performer") == {cast.performer.id}
    assert books("union") == {cast.union.id, cast.performer.id}
    assert books("other_union") == {cast.other_union.id}


def test_party_profiles_itself_members_and_counterparties(cast, contract):
    def profiles(who):
        return set(Party.objects.filter(visibility.party_q(getattr(cast, who))).values_list("id", flat=True))

    assert profiles("brand") == {cast.brand.id, cast.performer.id}
    assert profiles("performer") == {cast.performer.id, cast.brand.id}
    assert profiles("union") == {cast.union.id, cast.performer.id}
    assert profiles("other_brand") == {cast.other_brand.id}
    assert profiles("other_union") == {cast.other_union.id}


def test_the_performer_directory(cast):
    def directory(who):
        return set(Party.objects.filter(visibility.performer_directory_q(getattr(cast, who)))
                   .values_list("id", flat=True))

    assert directory("brand") == {cast.performer.id, cast.other_performer.id}
    assert directory("union") == {cast.performer.id}
    assert directory("performer") == set()


def test_keys_are_their_partys_own(cast):
    key = ApiKey.objects.get(party=cast.performer)
    assert _who(cast, ApiKey, visibility.api_key_q, key) == {"performer"}


def test_webhooks_are_their_brands_own(cast, contract):
    endpoint = WebhookEndpoint.objects.create(brand=cast.brand, url="https://example.com/hook", secret="s")
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="generation.denied", payload={})
    assert _who(cast, WebhookEndpoint, visibility.webhook_endpoint_q, endpoint) == {"brand"}
    assert _who(cast, WebhookDelivery, visibility.webhook_delivery_q, delivery) == {"brand"}
