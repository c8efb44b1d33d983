"""The policy engine's rule matrix: each rule alone, combined, and the window's boundaries."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from rights import policy

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)

BASE_TERMS = policy.ContractTerms(
    contract_id="ctr_x",
    brand_id="pty_brand",
    status="active",
    valid_from=T0,
    valid_until=T0 + timedelta(days=30),
    platforms=frozenset({"tiktok", "youtube"}),
    banned_categories=frozenset({"gambling", "sexual_health"}),
    languages=frozenset({"en", "es"}),
    territories=frozenset({"US", "CA"}),
    max_renders=10,
    renders_used=3,
    renders_held=2,
    terms_hash="a" * 64,
    consent_terms_hash="a" * 64,
)
BASE_REQUEST = policy.GenerationRequest(
    brand_id="pty_brand",
    script="Crack open an ice-cold Fizzly and taste the summer. Zero sugar, all the fun.",
    platform="tiktok",
    category="soft_drinks",
    language="en",
    territory="US",
)

# One way to break each rule, alone: (rule, terms overrides, request overrides, now)
BREAKERS = {
    "contract_not_active": ({"status": "suspended"}, {}, NOW),
    "contract_expired": ({}, {}, T0 + timedelta(days=31)),
    "contract_not_yet_valid": ({}, {}, T0 - timedelta(seconds=1)),
    "consent_missing": ({"consent_terms_hash": None}, {}, NOW),
    "licensee_mismatch": ({}, {"brand_id": "pty_other"}, NOW),
    "platform_not_allowed": ({}, {"platform": "instagram"}, NOW),
    "category_banned": ({}, {"category": "gambling"}, NOW),
    "script_category_banned": ({}, {"script": "Spin the roulette at our online casino tonight!"}, NOW),
    "language_not_allowed": ({}, {"language": "de"}, NOW),
    "territory_not_allowed": ({}, {"territory": "MX"}, NOW),
    "quota_exceeded": ({"renders_used": 8, "renders_held": 2}, {}, NOW),
}


def run(terms_over=None, req_over=None, now=NOW, **kw):
    terms = dataclasses.replace(BASE_TERMS, **(terms_over or {}))
    req = dataclasses.replace(BASE_REQUEST, **(req_over or {}))
    return policy.evaluate(terms, req, now, **kw)


def test_rule_codes_match_the_public_contract():
    assert set(BREAKERS) == set(policy.RULES)
    assert len(policy.RULES) == 11


def test_baseline_is_allowed_and_reports_every_rule():
    decision = run()
    assert decision.allowed
    assert [c.rule for c in decision.checks] == list(policy.RULES)
    assert all(c.passed for c in decision.checks)
    assert decision.reasons == []


@pytest.mark.parametrize("rule", sorted(BREAKERS))
def test_each_rule_triggers_alone(rule):
    terms_over, req_over, now = BREAKERS[rule]
    decision = run(terms_over, req_over, now)
    assert not decision.allowed
    assert decision.failed_rules == [rule]
    (reason,) = decision.reasons_as_dicts()
    assert reason["rule"] == rule
    assert reason["message"]


# Rules whose breakers do not interfere with each other (expiry and not-yet-valid
# are mutually exclusive by construction: they need different clocks).
COMBINABLE = sorted(set(BREAKERS) - {"contract_expired", "contract_not_yet_valid", "category_banned"})


@pytest.mark.parametrize("pair", list(itertools.combinations(COMBINABLE, 2)))
def test_every_pair_of_rules_reports_both(pair):
    terms_over, req_over = {}, {}
    for rule in pair:
        t, r, _ = BREAKERS[rule]
        terms_over.update(t)
        req_over.update(r)
    decision = run(terms_over, req_over)
    assert sorted(decision.failed_rules) == sorted(pair)


def test_all_rules_fail_together_and_all_are_reported():
    terms_over, req_over = {}, {}
    for rule in COMBINABLE:
        t, r, _ = BREAKERS[rule]
        terms_over.update(t)
        req_over.update(r)
    req_over["category"] = "gambling"
    decision = run(terms_over, req_over, now=T0 + timedelta(days=40))
    assert set(decision.failed_rules) == set(policy.RULES) - {"contract_not_yet_valid"}


class TestValidityWindowBoundaries:
    def test_exactly_at_valid_from_is_valid(self):
        assert run(now=T0).allowed

    def test_one_microsecond_before_valid_from_is_not_yet_valid(self):
        assert run(now=T0 - timedelta(microseconds=1)).failed_rules == ["contract_not_yet_valid"]

    def test_one_microsecond_before_valid_until_is_valid(self):
        assert run(now=BASE_TERMS.valid_until - timedelta(microseconds=1)).allowed

    def test_exactly_at_valid_until_is_expired(self):
        assert run(now=BASE_TERMS.valid_until).failed_rules == ["contract_expired"]

    def test_other_timezones_denote_the_same_instant(self):
        tokyo = timezone(timedelta(hours=9))
        just_before = (BASE_TERMS.valid_until - timedelta(seconds=1)).astimezone(tokyo)
        just_after = (BASE_TERMS.valid_until + timedelta(seconds=1)).astimezone(tokyo)
        assert run(now=just_before).allowed
        assert run(now=just_after).failed_rules == ["contract_expired"]

    def test_window_given_in_a_non_utc_offset(self):
        ny = timezone(timedelta(hours=-5))
        terms = {"valid_from": T0.astimezone(ny), "valid_until": (T0 + timedelta(days=1)).astimezone(ny)}
        assert run(terms, now=T0 + timedelta(hours=23)).allowed
        assert run(terms, now=T0 + timedelta(hours=24)).failed_rules == ["contract_expired"]

    def test_naive_now_is_refused(self):
        with pytest.raises(ValueError, match="timezone-aware"):
            run(now=datetime(2026, 6, 10, 12, 0))


class TestQuota:
    def test_last_unit_is_allowed(self):
        assert run({"renders_used": 7, "renders_held": 2}).allowed

    def test_held_renders_count_against_the_quota(self):
        assert run({"renders_used": 0, "renders_held": 10}).failed_rules == ["quota_exceeded"]

    def test_reserved_quota_passes_the_mid_flight_recheck(self):
        # The generation's own hold is the last unit: the worker's re-check must not deny it.
        decision = run({"renders_used": 9, "renders_held": 1}, quota_reserved=True)
        assert decision.allowed

    def test_a_lost_race_for_the_last_unit_denies_on_quota_alone(self):
        # The fresh counters say a unit is left, but the reservation failed: it was just taken.
        allowed = run({"renders_used": 7, "renders_held": 2})
        decision = policy.deny_quota_taken(allowed)
        assert not decision.allowed and decision.failed_rules == ["quota_exceeded"]
        assert decision.reasons[0].message == policy.QUOTA_TAKEN_MESSAGE
        assert [c.rule for c in decision.checks] == list(policy.RULES)  # every rule still reported
        assert allowed.allowed  # the input is left as it was

    def test_a_lost_race_keeps_a_denial_and_its_own_reasons(self):
        denied = run({"renders_used": 8, "renders_held": 2, "status": "suspended"})
        assert policy.deny_quota_taken(denied) == denied


class TestConsent:
    def test_consent_for_other_terms_is_missing(self):
        decision = run({"consent_terms_hash": "b" * 64})
        assert decision.failed_rules == ["consent_missing"]
        assert "different terms" in decision.reasons[0].message


class TestStatuses:
    @pytest.mark.parametrize("status", ["proposed", "suspended", "terminated"])
    def test_non_active_statuses_are_denied(self, status):
        decision = run({"status": status})
        assert decision.failed_rules == ["contract_not_active"]
        assert status in decision.reasons[0].message


def test_script_screening_only_checks_banned_categories():
    # Alcohol is not banned by this contract: a beer ad script is fine.
    decision = run(req_over={"script": "Cold beer, warm nights. Grab a six-pack of Brewski lager."})
    assert decision.allowed
    decision = run({"banned_categories": frozenset({"alcohol"})},
                   {"script": "Cold beer, warm nights. Grab a six-pack of Brewski lager."})
    assert decision.failed_rules == ["script_category_banned"]
    assert decision.reasons[0].detail["categories"] == ["alcohol"]


def test_script_detection_when_the_declared_category_is_innocent():
    decision = run(req_over={"category": "apps_games", "script": "B00st your M4LE p.o.t.e.n.c.y tonight!"})
    assert decision.failed_rules == ["script_category_banned"]
    assert decision.reasons[0].detail["categories"] == ["sexual_health"]


def test_decision_serialises_for_the_api():
    d = run({"status": "suspended"}).as_dict()
    assert d["allowed"] is False
    assert {c["rule"] for c in d["checks"]} == set(policy.RULES)
    failing = [c for c in d["checks"] if not c["passed"]]
    assert [c["rule"] for c in failing] == ["contract_not_active"]
