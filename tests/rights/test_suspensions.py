"""Issue 10 item 4: a suspension belongs to whoever made it.

The performer's resume lifts the performer's suspension only; the union's
strike stays until the union lifts it; both may hold at once and the contract
is suspended until both are lifted. The matrix: {performer, union, brand,
other union, other performer} × {suspend, resume} × {active, suspended by the
performer, by the union, by both}.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from rights import policy, selectors, services
from rights.exceptions import IllegalTransition
from rights.models import Contract, ContractEvent, PartyKind
from tests.factories import make_contract, make_party

URL = "/api/v1/contracts"

# Who holds a suspension in each starting state, and how to reach it.
STATES = {"active": [], "by_performer": ["performer"], "by_union": ["union"], "by_both": ["performer", "union"]}

OK_ACTIVE, OK_SUSPENDED = (200, "active"), (200, "suspended")
CONFLICT, FORBIDDEN, HIDDEN = (409, "invalid_state"), (403, "forbidden"), (404, "not_found")

# (actor, action) -> {state: expected (status code, contract status after | error code)}
MATRIX = {
    ("performer", "suspend"): {"active": OK_SUSPENDED, "by_performer": CONFLICT,
                               "by_union": OK_SUSPENDED, "by_both": CONFLICT},
    ("performer", "resume"): {"active": CONFLICT, "by_performer": OK_ACTIVE,
                              "by_union": CONFLICT, "by_both": OK_SUSPENDED},
    ("union", "suspend"): {"active": OK_SUSPENDED, "by_performer": OK_SUSPENDED,
                           "by_union": CONFLICT, "by_both": CONFLICT},
    ("union", "resume"): {"active": CONFLICT, "by_performer": CONFLICT,
                          "by_union": OK_ACTIVE, "by_both": OK_SUSPENDED},
    **{(who, action): dict.fromkeys(STATES, expected)
       for who, expected in [("brand", FORBIDDEN), ("other_union", HIDDEN), ("other_performer", HIDDEN)]
       for action in ("suspend", "resume")},
}

# Who holds a suspension after a successful action (absent: unchanged).
HOLDERS_AFTER = {
    ("performer", "suspend"): lambda held: sorted({*held, "performer"}),
    ("performer", "resume"): lambda held: [h for h in held if h != "performer"],
    ("union", "suspend"): lambda held: sorted({*held, "union"}),
    ("union", "resume"): lambda held: [h for h in held if h != "union"],
}


def act(cast, who, contract, action, reason=""):
    return cast.client(who).post(f"{URL}/{contract.id}/{action}", data=json.dumps({"reason": reason}),
                                 content_type="application/json")


def contract_in(cast, state):
    contract = make_contract(cast.brand, cast.performer)
    for who in STATES[state]:
        resp = act(cast, who, contract, "suspend", reason=f"{who} suspends")
        assert resp.status_code == 200, resp.content
    contract.refresh_from_db()
    return contract


def holders(contract) -> list[str]:
    return sorted(s.by for s in contract.suspensions)


@pytest.mark.parametrize("state", sorted(STATES))
@pytest.mark.parametrize("who,action", sorted(MATRIX))
def test_suspension_matrix(cast, who, action, state):
    contract = contract_in(cast, state)
    before = (contract.status, holders(contract), ContractEvent.objects.filter(contract=contract).count())
    code, outcome = MATRIX[(who, action)][state]
    resp = act(cast, who, contract, action, reason="matrix")
    assert resp.status_code == code, (who, action, state, resp.content)
    contract.refresh_from_db()
    events = ContractEvent.objects.filter(contract=contract)
    if code == 200:
        body = resp.json()
        expected_holders = HOLDERS_AFTER[(who, action)](STATES[state])
        assert body["status"] == contract.status == outcome
        assert sorted(s["by"] for s in body["suspensions"]) == holders(contract) == expected_holders
        assert (contract.status == "suspended") == bool(expected_holders)
        last = events.order_by("-created_at", "-id").first()
        assert (last.action, last.actor_id, last.from_status, last.to_status, last.reason) == (
            action, getattr(cast, who).id, before[0], outcome, "matrix")
        assert events.count() == before[2] + 1
    else:
        assert resp.json()["error"]["code"] == outcome
        assert (contract.status, holders(contract), events.count()) == before  # nothing written


def test_the_performer_cannot_lift_a_union_strike(cast):
    """The reported failure: the performer's resume lifted the union's strike, and the union
    could not resume its own strike."""
    contract = contract_in(cast, "by_union")
    err = act(cast, "performer", contract, "resume").json()["error"]
    assert err["code"] == "invalid_state" and err["suspended_by"] == ["union"]
    assert "union" in err["message"]
    contract.refresh_from_db()
    assert contract.status == "suspended"
    body = act(cast, "union", contract, "resume", reason="strike over").json()
    assert body["status"] == "active" and body["suspensions"] == []


def test_both_must_lift_whatever_the_order(cast):
    for first, second in [("performer", "union"), ("union", "performer")]:
        contract = contract_in(cast, "by_both")
        after_first = act(cast, first, contract, "resume").json()
        assert after_first["status"] == "suspended"
        assert [s["by"] for s in after_first["suspensions"]] == [second]
        assert act(cast, second, contract, "resume").json()["status"] == "active"


def test_suspensions_say_who_and_since_when(cast):
    contract = contract_in(cast, "by_both")
    body = cast.client("brand").get(f"{URL}/{contract.id}").json()
    assert [(s["by"], s["party"]) for s in body["suspensions"]] == [
        ("performer", cast.performer.id), ("union", cast.union.id)]
    assert all(s["since"].endswith("Z") for s in body["suspensions"])
    assert cast.client("performer").get(f"{URL}/{contract.id}").json()["suspensions"] == body["suspensions"]
    active = make_contract(cast.brand, cast.performer)
    assert cast.client("brand").get(f"{URL}/{active.id}").json()["suspensions"] == []


@pytest.mark.parametrize("state", ["by_performer", "by_union", "by_both"])
def test_generations_stay_denied_while_any_suspension_holds(cast, state):
    contract = contract_in(cast, state)
    if state == "by_both":
        act(cast, "performer", contract, "resume")
        contract.refresh_from_db()
    terms = selectors.contract_policy_terms(contract=contract)
    request = policy.GenerationRequest(brand_id=cast.brand.id, script="Taste the summer.", platform="tiktok",
                                       category="soft_drinks", language="en", territory="US")
    decision = policy.evaluate(terms, request, timezone.now())
    assert not decision.allowed
    assert decision.failed_rules == ["contract_not_active"]


def test_termination_ends_every_suspension(cast):
    contract = contract_in(cast, "by_both")
    body = act(cast, "performer", contract, "terminate").json()
    assert body["status"] == "terminated" and body["suspensions"] == []
    contract.refresh_from_db()
    assert contract.performer_suspended_at is None and contract.union_suspended_by is None
    assert act(cast, "union", contract, "resume").status_code == 409


def test_an_expired_contract_cannot_be_suspended_or_resumed(cast):
    contract = contract_in(cast, "by_union")
    Contract.objects.filter(id=contract.id).update(valid_until=timezone.now() - timedelta(seconds=1),
                                                   valid_from=timezone.now() - timedelta(days=2))
    for who, action in [("union", "resume"), ("performer", "suspend")]:
        err = act(cast, who, contract, action).json()["error"]
        assert err["code"] == "invalid_state" and err["status"] == "expired"


def test_a_union_lifts_the_strike_of_its_member_after_a_change_of_union(cast):
    """The strike belongs to the performer's union: a performer who moves to another union
    passes it on (the former union no longer sees the contract)."""
    contract = contract_in(cast, "by_union")
    cast.performer.union = cast.other_union
    cast.performer.save(update_fields=["union"])
    assert act(cast, "union", contract, "resume").status_code == 404
    assert act(cast, "performer", contract, "resume").status_code == 409
    assert act(cast, "other_union", contract, "resume").json()["status"] == "active"


def test_service_refuses_the_same_way_as_the_api(cast):
    contract = contract_in(cast, "by_union")
    with pytest.raises(IllegalTransition) as info:
        services.contract_transition(contract_id=contract.id, action="resume", actor=cast.performer)
    assert info.value.extra["suspended_by"] == ["union"]


# --- the database keeps status and suspensions together -------------------------------------


def test_database_refuses_a_suspended_status_that_nobody_holds(cast):
    contract = make_contract(cast.brand, cast.performer)
    with pytest.raises(IntegrityError), transaction.atomic():
        Contract.objects.filter(id=contract.id).update(status="suspended")
    with pytest.raises(IntegrityError), transaction.atomic():
        Contract.objects.filter(id=contract.id).update(performer_suspended_at=timezone.now())


def test_database_refuses_a_strike_without_its_union(cast):
    contract = contract_in(cast, "by_union")
    with pytest.raises(IntegrityError), transaction.atomic():
        Contract.objects.filter(id=contract.id).update(union_suspended_by=None)


# --- migration 0003: state derived from the audit trail ----------------------------------------

BEFORE = [("rights", "0002_contract_consented_terms_hash")]
AFTER = [("rights", "0004_contract_suspension_constraints")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_0003_derives_who_holds_existing_suspensions_from_their_events():
    union, _ = make_party(PartyKind.UNION)
    performer, _ = make_party(PartyKind.PERFORMER, union=union)
    brand, _ = make_party(PartyKind.BRAND)
    # Under the old rules: suspend only from active; any resume lifted everything.
    histories = {
        "strike": [("accept", performer), ("suspend", union)],
        "own": [("accept", performer), ("suspend", performer)],
        "strike_lifted_then_own": [("accept", performer), ("suspend", union), ("resume", performer),
                                   ("suspend", performer)],
        "own_lifted_then_strike": [("accept", performer), ("suspend", performer), ("resume", performer),
                                   ("suspend", union)],
        "no_events": [("accept", performer)],
        "active": [("accept", performer), ("suspend", union), ("resume", performer)],
    }
    contracts = {name: make_contract(brand, performer, accept=False) for name in histories}
    old = _migrate(BEFORE)
    try:
        OldContract = old.get_model("rights", "Contract")
        OldEvent = old.get_model("rights", "ContractEvent")
        t = timezone.now() + timedelta(seconds=1)  # after each contract's propose event
        for name, steps in histories.items():
            status = "proposed"
            for i, (action, actor) in enumerate(steps):
                new = {"accept": "active", "suspend": "suspended", "resume": "active"}[action]
                OldEvent.objects.create(contract_id=contracts[name].id, action=action, actor_id=actor.id,
                                        from_status=status, to_status=new, created_at=t + timedelta(minutes=i))
                status = new
            if name == "no_events":
                status = "suspended"  # made behind the services' back: no suspend event
            OldContract.objects.filter(id=contracts[name].id).update(status=status, updated_at=t)
    finally:
        _migrate(AFTER)
    got = {name: Contract.objects.get(id=c.id) for name, c in contracts.items()}
    assert {name: holders(c) for name, c in got.items()} == {
        "strike": ["union"], "own": ["performer"], "strike_lifted_then_own": ["performer"],
        "own_lifted_then_strike": ["union"], "no_events": ["performer"], "active": []}
    assert got["strike"].union_suspended_by_id == union.id
    assert got["strike"].union_suspended_at == t + timedelta(minutes=1)
    assert got["no_events"].performer_suspended_at == t
    # The derived state obeys the new rules: the performer cannot lift the migrated strike.
    with pytest.raises(IllegalTransition):
        services.contract_transition(contract_id=got["strike"].id, action="resume", actor=performer)
    assert services.contract_transition(contract_id=got["strike"].id, action="resume",
                                        actor=union).status == "active"
