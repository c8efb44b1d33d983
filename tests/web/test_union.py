"""The union auditor's pages (issue 12, item 4)."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gateway.models import Generation, GenerationStatus
from ledger import services as ledger_services
from ledger.models import AccountPurpose, Posting
from rights import services as rights_services
from rights.exceptions import IllegalTransition
from rights.models import Contract, ContractStatus, PartyKind
from tests.factories import make_contract, make_party
from tests.web.conftest import give_totp, make_person, signed_in
from web.audit import audit_union
from web.models import AuditRun

_seq = itertools.count(1)


def make_use(contract, *, duration_s=10.0, platform="tiktok") -> Generation:
    """A delivered generation, paid through the real ledger services."""
    n = next(_seq)
    hold = ledger_services.hold_create(contract=contract, reference=f"gen-{n}", idempotency_key=f"hold-{n}",
                                       meta={"platform": platform})
    txn = ledger_services.hold_post(hold=hold, duration_s=duration_s, idempotency_key=f"post-{n}")
    now = timezone.now()
    return Generation.objects.create(
        contract=contract, brand=contract.brand, performer=contract.performer, script=f"Use {n}", platform=platform,
        category="food", language="en", territory="US", profile="square", status=GenerationStatus.DELIVERED,
        decision={"allowed": True, "checks": []}, hold=hold, ledger_transaction=txn, asset_sha256="ab" * 32,
        duration_s=duration_s, delivered_at=now)


def make_denial(contract, *, rules=("platform_not_allowed",), script="Drink Acme", when=None) -> Generation:
    checks = [{"rule": "contract_active", "passed": True, "message": "ok"}]
    checks += [{"rule": r, "passed": False, "message": f"Refused: {r}"} for r in rules]
    return Generation.objects.create(
        contract=contract, brand=contract.brand, performer=contract.performer, script=script, platform="tv",
        category="food", language="en", territory="US", profile="square", status=GenerationStatus.DENIED,
        decision={"allowed": False, "checks": checks}, failure_code="policy_denied",
        created_at=when or timezone.now())


@pytest.fixture
def auditor(cast):
    user = make_person(cast.union)
    give_totp(user)
    return signed_in(user)


@pytest.fixture
def outsider_member(cast):
    """A performer of the OTHER union, with a contract, a use and a denial."""
    performer, _ = make_party(PartyKind.PERFORMER, "Otto Other", union=cast.other_union)
    contract = make_contract(cast.brand, performer)
    return performer, contract, make_use(contract), make_denial(contract, script="SECRET OTHER SCRIPT")


# --- access ---------------------------------------------------------------------------------------

PAGES = ["web:union_home", "web:union_denials", "web:union_contracts", "web:union_ledger", "web:union_exports"]


@pytest.mark.parametrize("name", PAGES)
def test_pages_render_for_a_union_member(cast, auditor, name):
    response = auditor.get(reverse(name))
    assert response.status_code == 200
    assert b"Denied attempts" in response.content  # the role's navigation


@pytest.mark.parametrize("name", PAGES)
def test_other_roles_are_refused_and_anonymous_sent_to_sign_in(cast, name):
    for party in (cast.performer, cast.brand):
        assert signed_in(make_person(party)).get(reverse(name)).status_code == 403
    anonymous = Client().get(reverse(name))
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]


def test_totp_is_required(cast):
    client = signed_in(make_person(cast.union))
    response = client.get(reverse("web:union_home"))
    assert response.status_code == 302
    assert "2fa" in response["Location"] or "mfa" in response["Location"]


# --- members ----------------------------------------------------------------------------------------

def test_home_lists_members_with_uses_earnings_and_ph(cast, auditor, outsider_member):
    make_use(cast.contract)
    make_use(cast.contract)
    make_denial(cast.contract)
    payable = sum(Posting.objects.filter(account__party=cast.performer, account__purpose=AccountPurpose.PAYABLE,
                                         side="credit").values_list("amount", flat=True))
    ph = sum(Posting.objects.filter(account__party=cast.union, account__purpose=AccountPurpose.PENSION_HEALTH,
                                    side="credit").values_list("amount", flat=True))
    assert payable > 0 and ph > 0
    page = auditor.get(reverse("web:union_home"))
    members = page.context["members"]
    assert [(m["party"].id, m["uses"]) for m in members] == [(cast.performer.id, 2)]
    assert members[0]["earnings"] == [(cast.contract.currency, payable)]
    assert page.context["ph_balances"][0]["balance"] == ph
    html = page.content.decode()
    assert "Ava Stone" in html and "Otto Other" not in html
    # money shown with the currency's decimals (USD: two)
    assert f"{payable // 100}.{payable % 100:02d}" in html


def _members(union, n, brand):
    out = []
    for i in range(n):
        performer, _ = make_party(PartyKind.PERFORMER, f"Member {i}", union=union)
        contract = make_contract(brand, performer)
        make_use(contract)
        make_denial(contract)
        out.append(contract)
    return out


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("name", ["web:union_home", "web:union_denials", "web:union_contracts"])
def test_query_counts_do_not_grow_with_members(cast, auditor, name):
    _members(cast.union, 2, cast.brand)
    few = _queries(auditor, reverse(name))
    _members(cast.union, 28, cast.brand)
    assert _queries(auditor, reverse(name)) == few


def test_a_few_hundred_denials_stay_flat(cast, auditor):
    for _ in range(5):
        make_denial(cast.contract)
    few = _queries(auditor, reverse("web:union_denials"))
    Generation.objects.bulk_create([Generation(
        contract=cast.contract, brand=cast.brand, performer=cast.performer, script="x", platform="tv",
        category="food", language="en", territory="US", profile="square", status=GenerationStatus.DENIED,
        decision={"allowed": False, "checks": [{"rule": "quota_exhausted", "passed": False, "message": "no"}]})
        for _ in range(300)])
    assert _queries(auditor, reverse("web:union_denials")) == few
    assert _queries(auditor, reverse("web:union_denials") + "?rule=quota_exhausted&page=3") <= few + 1


# --- denials ----------------------------------------------------------------------------------------

def test_denials_counted_by_rule_and_brand_and_filtered(cast, auditor, outsider_member):
    make_denial(cast.contract, rules=("platform_not_allowed", "language_not_allowed"))
    make_denial(cast.contract, rules=("platform_not_allowed",))
    other = make_contract(cast.other_brand, cast.performer)
    target = make_denial(other, rules=("category_banned",))
    page = auditor.get(reverse("web:union_denials"))
    rule_rows = {r["label"]: r["value"] for r in page.context["rule_chart"]["rows"]}
    assert rule_rows == {"platform not allowed": "2", "language not allowed": "1", "category banned": "1"}
    brand_rows = {r["label"]: r["value"] for r in page.context["brand_chart"]["rows"]}
    assert brand_rows == {"Acme Cola": "2", "Globex": "1"}  # the other union's denial is not counted
    assert "SECRET" not in page.content.decode()

    def ids(query):
        return [row["g"].id for row in auditor.get(reverse("web:union_denials") + query).context["rows"]]

    assert ids("?rule=category_banned") == [target.id]
    assert len(ids("?rule=platform_not_allowed")) == 2
    assert ids(f"?brand={cast.other_brand.id}") == [target.id]
    assert len(ids(f"?member={cast.performer.id}")) == 3
    hostile = auditor.get(reverse("web:union_denials") + "?rule=%27%3B+DROP+TABLE&member=" + outsider_member[0].id)
    assert hostile.status_code == 400 and hostile.context["rows"] == []
    assert Generation.objects.count() == 5


def test_denial_detail_and_other_unions_attempt_is_404(cast, auditor, outsider_member):
    denial = make_denial(cast.contract, rules=("territory_not_allowed",), script="Say <b>cheese</b>")
    html = auditor.get(reverse("web:union_denial", args=[denial.id])).content.decode()
    assert "Territory not allowed" in html and "Refused: territory_not_allowed" in html
    assert "Say &lt;b&gt;cheese&lt;/b&gt;" in html and cast.contract.id in html and "Acme Cola" in html
    assert auditor.get(reverse("web:union_denial", args=[outsider_member[3].id])).status_code == 404
    use = make_use(cast.contract)  # a delivered one is not a denial
    assert auditor.get(reverse("web:union_denial", args=[use.id])).status_code == 404


# --- strikes ----------------------------------------------------------------------------------------

def test_strike_then_performer_cannot_lift_it_and_union_can(cast, auditor):
    url = reverse("web:union_contract_action", args=[cast.contract.id, "suspend"])
    response = auditor.post(url, {"reason": "strike 2026"})
    assert response.status_code == 302
    contract = Contract.objects.get(pk=cast.contract.id)
    assert contract.status == ContractStatus.SUSPENDED and contract.union_suspended_by_id == cast.union.id
    assert contract.events.last().reason == "strike 2026"
    with pytest.raises(IllegalTransition):
        rights_services.contract_transition(contract_id=contract.id, action="resume", actor=cast.performer)
    page = auditor.get(reverse("web:union_contracts")).content.decode()
    assert "can only be lifted by the union" in page and "Lift the strike" in page
    # striking twice: a clear message, nothing changed
    again = auditor.post(url, {"reason": ""}, follow=True)
    assert any("already" in str(m).lower() or "suspend" in str(m).lower() for m in again.context["messages"])
    auditor.post(reverse("web:union_contract_action", args=[cast.contract.id, "resume"]))
    assert Contract.objects.get(pk=cast.contract.id).status == ContractStatus.ACTIVE


def test_strike_input_checked_and_other_unions_contract_404(cast, auditor, outsider_member):
    too_long = auditor.post(reverse("web:union_contract_action", args=[cast.contract.id, "suspend"]),
                            {"reason": "x" * 2001}, follow=True)
    assert any("too long" in str(m) for m in too_long.context["messages"])
    assert Contract.objects.get(pk=cast.contract.id).status == ContractStatus.ACTIVE
    bad = auditor.post(reverse("web:union_contract_action", args=[cast.contract.id, "terminate"]))
    assert bad.status_code == 404
    other = outsider_member[1]
    assert auditor.post(reverse("web:union_contract_action", args=[other.id, "suspend"])).status_code == 404
    assert Contract.objects.get(pk=other.id).status == ContractStatus.ACTIVE
    assert auditor.post(reverse("web:union_member_strike", args=[outsider_member[0].id])).status_code == 404
    assert auditor.get(reverse("web:union_contract_action", args=[cast.contract.id, "suspend"])).status_code == 405


def test_member_strike_suspends_all_their_active_contracts(cast, auditor):
    second = make_contract(cast.other_brand, cast.performer)
    response = auditor.post(reverse("web:union_member_strike", args=[cast.performer.id]), {"reason": "all out"})
    assert response.status_code == 302
    for c in Contract.objects.filter(pk__in=[cast.contract.id, second.id]):
        assert c.status == ContractStatus.SUSPENDED and c.union_suspended_at is not None


# --- exports ----------------------------------------------------------------------------------------

def _csv(client, kind, query=""):
    response = client.get(reverse("web:union_export", args=[kind]) + query)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_csv_exports_match_the_database_and_stay_in_the_union(cast, auditor, outsider_member):
    uses = [make_use(cast.contract, duration_s=5), make_use(cast.contract, duration_s=12)]
    make_denial(cast.contract, rules=("platform_not_allowed",), script="=HYPERLINK(\"http://evil\")")
    rows = _csv(auditor, "uses")
    assert sorted(r["generation"] for r in rows) == sorted(g.id for g in uses)
    for row in rows:
        txn = Generation.objects.get(pk=row["generation"]).ledger_transaction
        payable = txn.postings.get(account__purpose=AccountPurpose.PAYABLE).amount
        assert int(row["performer_amount"]) == payable and row["currency"] == cast.contract.currency
    denials = _csv(auditor, "denials")
    assert len(denials) == 1 and denials[0]["failed_rules"] == "platform_not_allowed"
    assert denials[0]["script"].startswith("'=")  # formula injection defused
    ph = _csv(auditor, "pension-health")
    db = Posting.objects.filter(account__party=cast.union, account__purpose=AccountPurpose.PENSION_HEALTH)
    assert sorted(int(r["amount"]) for r in ph) == sorted(p.amount for p in db) and len(ph) == 2
    everything = str(rows) + str(denials) + str(ph)
    assert outsider_member[2].id not in everything and outsider_member[3].id not in everything


def test_csv_date_filters_and_bad_dates(cast, auditor):
    make_denial(cast.contract, when=timezone.now() - timedelta(days=10))
    recent = make_denial(cast.contract)
    today = timezone.localdate().isoformat()
    assert [r["generation"] for r in _csv(auditor, "denials", f"?start={today}")] == [recent.id]
    assert len(_csv(auditor, "denials", f"?end={today}")) == 2
    assert _csv(auditor, "uses", f"?start={today}") == []
    for query in ("?start=yesterday", "?start=2026-02-30", f"?start={today}&end=2020-01-01"):
        bad = auditor.get(reverse("web:union_export", args=["denials"]) + query)
        assert bad.status_code == 400
        assert b"correct the dates" in bad.content
    assert auditor.get(reverse("web:union_export", args=["secrets"])).status_code == 404


def test_other_union_exports_are_empty_of_our_members(cast, outsider_member):
    make_use(cast.contract)
    make_denial(cast.contract)
    other = make_person(cast.other_union)
    give_totp(other)
    client = signed_in(other)
    assert [r["generation"] for r in _csv(client, "uses")] == [outsider_member[2].id]
    assert [r["generation"] for r in _csv(client, "denials")] == [outsider_member[3].id]
    denial = Generation.objects.filter(contract=cast.contract, status=GenerationStatus.DENIED).first()
    assert client.get(reverse("web:union_denial", args=[denial.id])).status_code == 404


# --- ledger audit -------------------------------------------------------------------------------------

def test_ledger_page_shows_checkpoint_audit_outcome_and_command(cast, auditor):
    make_use(cast.contract)
    from ledger.log.sequencer import log_sequence
    log_sequence()
    run = audit_union(cast.union)
    assert run.outcome == "passed", (run.problems, run.output)
    assert run.verified >= 1 and run.checkpoint_size and run.state.get("verifier_key")
    html = auditor.get(reverse("web:union_ledger")).content.decode()
    assert "Passed" in html and "python -m ledger.audit --url http://testserver --key" in html
    from ledger.selectors import tree_head_latest
    assert tree_head_latest().root_hash in html
    # The next run checks consistency with the pinned state, and still passes after more growth.
    make_use(cast.contract)
    log_sequence()
    second = audit_union(cast.union)
    assert second.outcome == "passed", second.problems
    assert "consistent with the previous checkpoint" in second.output


def test_audit_that_fails_is_recorded_as_failed(cast, auditor):
    make_use(cast.contract)
    from ledger.log.sequencer import log_sequence
    log_sequence()
    assert audit_union(cast.union).outcome == "passed"
    # A pinned log key that is not the server's: the run fails and the page says so.
    AuditRun.objects.filter(union=cast.union).update(state={"verifier_key": "someone+00000000+AAAA"})
    failed = audit_union(cast.union)
    assert failed.outcome in ("failed", "error") and failed.problems
    html = auditor.get(reverse("web:union_ledger")).content.decode()
    assert "Failed" in html or "Could not run" in html


def test_audit_is_scheduled(db):
    from django.core.management import call_command
    from django_q.models import Schedule

    Schedule.objects.filter(name="doppel: union ledger audit").delete()
    call_command("migrate", verbosity=0)  # post_migrate registers every app's jobs, the web app's too
    assert Schedule.objects.get(name="doppel: union ledger audit").func == "web.audit.union_audit_task"
