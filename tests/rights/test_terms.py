"""Contract terms as one value (``rights.terms.Terms``): its canonical JSON and hash
are pinned by stored consents, so they must never change for version 1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from rights.models import Consent, Contract
from rights.selectors import contract_policy_terms
from rights.serializers import ContractOutSerializer
from rights.terms import Royalty, Terms, canonical_json, terms_hash
from tests.factories import make_contract

GOLDEN_JSON = (
    '{"banned_categories":["gambling","sexual_health"],"brand":"pty_brand","languages":["de","en"],'
    '"max_renders":100,"notice_days":30,"performer":"pty_performer","platforms":["tiktok","youtube"],'
    '"requires_approval":true,"royalty":{"currency":"USD","per_render":500,"per_second":10,'
    '"revenue_share_bps":250},"territories":["CA","US"],"valid_from":"2026-01-01T00:00:00.000000Z",'
    '"valid_until":"2027-01-01T00:00:00.123456Z","version":1}'
)
GOLDEN_HASH = "22ee4385761283db81627261223c28a0d19e5cf18d82bb5b70f97b1dd2e1717c"


def golden_contract() -> Contract:
    return Contract(
        performer_id="pty_performer", brand_id="pty_brand", platforms=["youtube", "tiktok", "tiktok"],
        banned_categories=["gambling", "sexual_health"], languages=["en", "de"], territories=["US", "CA"],
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        valid_until=datetime(2027, 1, 1, 2, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        currency="USD", royalty_per_render=500, royalty_per_second=10, revenue_share_bps=250,
        max_renders=100, requires_approval=True, notice_days=30)


def test_the_canonical_form_and_hash_of_version_1_never_change():
    terms = golden_contract().terms
    assert canonical_json(terms.canonical()).decode() == GOLDEN_JSON
    assert terms.hash() == terms_hash(terms.canonical()) == GOLDEN_HASH


def test_terms_keep_the_stored_order_and_canonical_sorts():
    terms = Terms.of(golden_contract())
    assert terms.platforms == ("youtube", "tiktok", "tiktok")
    assert terms.canonical()["platforms"] == ["tiktok", "youtube"]
    assert terms.royalty == Royalty(currency="USD", per_render=500, per_second=10, revenue_share_bps=250)


def test_naive_datetimes_are_refused():
    contract = golden_contract()
    contract.valid_from = datetime(2026, 1, 1)
    with pytest.raises(ValueError):
        contract.terms.canonical()


def test_the_hash_consent_policy_and_api_read_the_same_terms(cast):
    contract = make_contract(cast.brand, cast.performer)
    terms = contract.terms
    assert contract.terms_hash == terms.hash()
    assert Consent.objects.get(contract=contract).terms == terms.canonical()
    snapshot = contract_policy_terms(contract=contract)
    assert (snapshot.brand_id, snapshot.valid_from, snapshot.valid_until, snapshot.max_renders) == (
        terms.brand, terms.valid_from, terms.valid_until, terms.max_renders)
    assert snapshot.platforms == frozenset(terms.platforms) and snapshot.languages == frozenset(terms.languages)
    body = ContractOutSerializer(contract).data
    assert body["royalty"] == {"currency": "USD", "per_render": 500, "per_second": 10, "revenue_share_bps": 0}
    assert body["platforms"] == list(terms.platforms) and body["terms_hash"] == terms.hash()
