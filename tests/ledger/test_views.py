"""The ledger API: scopes (owner / member / outsider), hostile input, query counts."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from ledger import selectors, services
from ledger.log import checkpoint as cp
from ledger.log import merkle
from ledger.models import LogState, Transaction, TreeHead
from tests.ledger.factories import client_for

TX = "/api/v1/ledger/transactions"
BAL = "/api/v1/ledger/balances"
HEAD = "/api/v1/ledger/tree-head"
INC = "/api/v1/ledger/proofs/inclusion"
CONS = "/api/v1/ledger/proofs/consistency"
USAGE = "/api/v1/usage"
SALES = "/api/v1/sales"
STMT = "/api/v1/ledger/statements"


@pytest.fixture
def booked(world, post):
    """Two renders on the world's contract, one on the outsiders' contract, all logged."""
    mine = [post(world.contract, duration_s=3), post(world.contract, duration_s=4)]
    theirs = post(world.other_contract, duration_s=5)
    services.log_sequence()
    return mine, theirs


def ids(response):
    return {row["id"] for row in response.json()["results"]}


def assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code
    if field is not None:
        assert field in body["fields"], body


# --- permission matrix --------------------------------------------------------------------


@pytest.mark.parametrize(("who", "sees_mine", "sees_theirs"), [
    ("brand", True, False), ("performer", True, False), ("union", True, False),
    ("other_brand", False, True), ("other_performer", False, True), ("other_union", False, False),
])
def test_transactions_are_scoped(world, booked, who, sees_mine, sees_theirs):
    mine, theirs = booked
    response = world.client(who).get(TX)
    assert response.status_code == 200
    assert ids(response) == ({t.id for t in mine} if sees_mine else set()) | ({theirs.id} if sees_theirs else set())


@pytest.mark.parametrize(("who", "party", "status"), [
    ("performer", "performer", 200), ("brand", "brand", 200), ("union", "union", 200),
    ("union", "performer", 200),  # a member
    ("brand", "performer", 404), ("performer", "brand", 404), ("performer", "union", 404),
    ("other_union", "performer", 404), ("union", "other_performer", 404), ("other_brand", "brand", 404),
])
def test_balances_are_scoped(world, booked, who, party, status):
    response = world.client(who).get(BAL, {"party": getattr(world, party).id})
    assert response.status_code == status, response.content
    if status == 404:
        assert response.json()["error"]["code"] == "not_found"


def test_balances_default_to_the_caller_and_add_up(world, booked):
    body = world.client("performer").get(BAL).json()
    assert body["party"] == world.performer.id
    assert body["balances"] == [{
        "account": body["balances"][0]["account"], "purpose": "payable", "currency": "USD",
        "normal_side": "credit", "debits": 0, "credits": 530 + 540, "balance": 1070,
        # Issue 10: every sum of money also as an exact decimal string.
        "debits_exact": "0", "credits_exact": "1070", "balance_exact": "1070",
    }]


@pytest.mark.parametrize(("who", "status"), [
    ("brand", 200), ("performer", 200), ("union", 200), ("other_brand", 404), ("other_union", 404),
    ("other_performer", 404),
])
def test_inclusion_proofs_are_scoped(world, booked, who, status):
    response = world.client(who).get(INC, {"transaction": booked[0][0].id})
    assert response.status_code == status


@pytest.mark.parametrize(("who", "status"), [
    ("performer", 200), ("union", 200), ("brand", 404), ("other_union", 404), ("other_performer", 404),
])
def test_statements_are_scoped(world, booked, who, status):
    month = timezone.now().strftime("%Y-%m")
    response = world.client(who).get(STMT, {"performer": world.performer.id, "month": month})
    assert response.status_code == status


@pytest.mark.parametrize("path", [TX, BAL, HEAD, f"{INC}?transaction=x", f"{CONS}?first=1&second=1", USAGE, STMT])
def test_every_endpoint_needs_a_key(db, path):
    assert_error(client_for(None).get(path), 401, "unauthenticated")
    assert_error(client_for("dpl_nope.nope").get(path), 401, "unauthenticated")


# --- the log endpoints ----------------------------------------------------------------------


def test_a_proof_verifies_against_the_signed_tree_head(world, booked):
    head = world.client("union").get(HEAD).json()
    checkpoint = cp.open_checkpoint(head["checkpoint"], cp.parse_verifier_key(head["verifier_key"]))
    assert (checkpoint.size, checkpoint.root.hex()) == (head["size"], head["root_hash"]) == (3, head["root_hash"])
    txn = booked[0][1]
    proof = world.client("performer").get(INC, {"transaction": txn.id, "tree_size": 3}).json()
    assert proof["leaf_hash"] == merkle.leaf_hash(proof["leaf"].encode()).hex()
    assert f'"id":"{txn.id}"' in proof["leaf"]
    merkle.verify_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"], 3,
                            [bytes.fromhex(h) for h in proof["audit_path"]], checkpoint.root)


def test_an_unsequenced_transaction_is_not_yet_logged_until_the_worker_sequences_it(world, booked, post):
    """Issue 10 item 14: the request never runs the sequencer (it did, and signed a head per call)."""
    txn = post(world.contract)
    response = world.client("brand").get(INC, {"transaction": txn.id})
    assert_error(response, 409, "not_yet_logged")
    assert response["Retry-After"] == "2" and response.json()["error"]["retry_after"] == 2
    assert selectors.log_leaf_index(transaction_id=txn.id) is None and TreeHead.objects.count() == 1
    services.log_sequence()  # the worker
    response = world.client("brand").get(INC, {"transaction": txn.id})
    assert response.status_code == 200
    assert response.json()["leaf_index"] == 3 and response.json()["tree_size"] == 4


def test_a_transaction_beyond_the_requested_tree_is_not_yet_logged(world, booked, post):
    late = post(world.contract)
    services.log_sequence()
    response = world.client("brand").get(INC, {"transaction": late.id, "tree_size": 3})
    assert_error(response, 409, "not_yet_logged")
    assert response.json()["error"]["leaf_index"] == 3


def test_consistency_proofs(world, booked, post):
    post(world.contract)
    services.log_sequence()
    response = world.client("other_union").get(CONS, {"first": 3, "second": 4})
    assert response.status_code == 200
    body = response.json()
    heads = world.client("brand").get(HEAD).json()
    from ledger.models import TreeHead

    old = TreeHead.objects.get(size=3)
    merkle.verify_consistency(3, 4, bytes.fromhex(old.root_hash), bytes.fromhex(heads["root_hash"]),
                              [bytes.fromhex(h) for h in body["proof"]])
    assert world.client("brand").get(CONS, {"first": 4, "second": 4}).json()["proof"] == []


@pytest.mark.parametrize(("params", "field"), [
    ({}, "transaction"),
    ({"transaction": "x", "tree_size": "0"}, "tree_size"),
    ({"transaction": "x", "tree_size": "-3"}, "tree_size"),
    ({"transaction": "x", "tree_size": "abc"}, "tree_size"),
    ({"transaction": "x", "tree_size": "1.5"}, "tree_size"),
    ({"transaction": "x", "tree_size": str(2**70)}, "tree_size"),
    ({"transaction": "x" * 100}, "transaction"),
    ({"transaction": "x", "evil": "1"}, "evil"),
])
def test_inclusion_refuses_bad_parameters(world, params, field):
    assert_error(world.client("brand").get(INC, params), 400, "invalid_request", field)


def test_inclusion_refuses_a_tree_size_beyond_the_head(world, booked):
    response = world.client("brand").get(INC, {"transaction": booked[0][0].id, "tree_size": 4})
    assert_error(response, 400, "invalid_request", "tree_size")


def test_repeated_parameters_are_refused(world, booked):
    response = world.client("brand").get(f"{INC}?transaction={booked[0][0].id}&transaction=x")
    assert_error(response, 400, "invalid_request", "transaction")


@pytest.mark.parametrize(("params", "field"), [
    ({"first": 3, "second": 2}, "first"),
    ({"first": 0, "second": 2}, "first"),
    ({"first": 1}, "second"),
    ({"first": "x", "second": 2}, "first"),
    ({"first": 1, "second": 4}, "second"),  # beyond the head of size 3
])
def test_consistency_refuses_bad_parameters(world, booked, params, field):
    assert_error(world.client("brand").get(CONS, params), 400, "invalid_request", field)


def test_the_tree_head_of_an_empty_log_is_signed_by_the_sequencer_not_the_request(world):
    """Issue 10 item 14: the endpoint only reads; the sequencer's first run signs the empty head."""
    response = world.client("brand").get(HEAD)
    assert_error(response, 409, "not_yet_logged")
    assert response["Retry-After"] == "2"
    assert not TreeHead.objects.exists() and not LogState.objects.exists()
    services.log_sequence()  # the worker's first run
    head = world.client("brand").get(HEAD).json()
    assert head["size"] == 0 and head["root_hash"] == merkle.EMPTY_ROOT.hex()
    assert head["verifier_key"].startswith("doppel.local/ledger+")


@pytest.mark.parametrize("path", [HEAD, INC, CONS])
def test_the_log_endpoints_never_write(world, booked, post, path, django_assert_max_num_queries):
    """Tree head, inclusion and consistency proofs run no INSERT, UPDATE or DELETE, whatever
    they are asked about, logged or not (issue 10 item 14)."""
    pending = post(world.contract)
    params = {HEAD: {}, INC: {"transaction": pending.id}, CONS: {"first": 1, "second": 3}}[path]
    client = world.client("performer")
    client.get(TX)  # the key's last_used_at is written once a minute: not the endpoint's doing
    with django_assert_max_num_queries(20) as queries:
        client.get(path, params)
        client.get(INC, {"transaction": booked[0][0].id})
    writes = [q["sql"] for q in queries.captured_queries
              if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []


# --- usage ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "count"), [
    ("brand", 3), ("performer", 3), ("union", 3), ("other_brand", 1), ("other_performer", 1), ("other_union", 0),
])
def test_usage_is_scoped(world, booked, key, who, count):
    services.hold_create(contract=world.contract, reference=key(), idempotency_key=key())  # an open use
    response = world.client(who).get(USAGE)
    assert response.status_code == 200
    assert len(response.json()["results"]) == count


def test_usage_rows_carry_the_use_and_its_royalty(world, key):
    hold = services.hold_create(contract=world.contract, reference="gen_1", idempotency_key=key(),
                                meta={"platform": "tiktok", "category": "food", "language": "en", "territory": "US",
                                      "script_chars": 120})
    txn = services.hold_post(hold=hold, duration_s=6.2, idempotency_key=key())
    row = world.client("union").get(USAGE).json()["results"][0]
    assert {k: row[k] for k in ("reference", "status", "platform", "category", "language", "territory",
                                "script_chars", "duration_s", "billed_seconds", "currency", "performer_amount",
                                "union_amount", "fee_amount", "total", "transaction")} == {
        "reference": "gen_1", "status": "posted", "platform": "tiktok", "category": "food", "language": "en",
        "territory": "US", "script_chars": 120, "duration_s": 6.2, "billed_seconds": 7, "currency": "USD",
        "performer_amount": 570, "union_amount": 48, "fee_amount": 57, "total": 675, "transaction": txn.id,
    }


def test_usage_as_csv_with_a_date_range_and_no_formula_injection(world, key):
    for platform in ("tiktok", "=HYPERLINK(\"http://evil\")"):
        hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(),
                                    meta={"platform": platform})
        services.hold_post(hold=hold, duration_s=1, idempotency_key=key())
    today = timezone.now().date()
    response = world.client("brand").get(USAGE, {"format": "csv", "from": today.isoformat(),
                                                 "to": today.isoformat()})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 2
    assert {r["platform"] for r in rows} == {"tiktok", "'=HYPERLINK(\"http://evil\")"}
    assert {r["total"] for r in rows} == {str(510 + 43 + 51)}
    tomorrow = (today + timedelta(days=1)).isoformat()
    later = world.client("brand").get(USAGE, {"format": "csv", "from": tomorrow})
    assert len(list(csv.reader(io.StringIO(b"".join(later.streaming_content).decode())))) == 1  # header only


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "yesterday"}, "from"),
    ({"from": "2026-02-30"}, "from"),
    ({"from": "2026-11-21T10:00:00"}, "from"),  # no time zone
    ({"from": "2026-11-21", "to": "2026-11-20"}, "to"),
    ({"format": "xml"}, "format"),
    ({"status": "lost"}, "status"),
    ({"limit": "0"}, "limit"),
])
def test_usage_refuses_bad_parameters(world, params, field):
    assert_error(world.client("brand").get(USAGE, params), 400, "invalid_request", field)


# --- sales ------------------------------------------------------------------------------------


def sale_body(world, **overrides):
    today = timezone.now().date().isoformat()
    return {"contract": world.contract.id, "gross": 250_000, "currency": "USD", "period_start": today,
            "period_end": today, **overrides}


def test_a_brand_books_a_sale_once_per_key(world):
    client = world.client("brand")
    first = client.post(SALES, sale_body(world), format="json", HTTP_IDEMPOTENCY_KEY="sale-1")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["kind"] == "revenue_share" and body["royalty"]["performer_amount"] == 12_500
    replay = client.post(SALES, sale_body(world), format="json", HTTP_IDEMPOTENCY_KEY="sale-1")
    assert replay.status_code == 201 and replay.json()["id"] == body["id"]
    conflict = client.post(SALES, sale_body(world, gross=1), format="json", HTTP_IDEMPOTENCY_KEY="sale-1")
    assert_error(conflict, 409, "idempotency_conflict")
    assert Transaction.objects.filter(kind="revenue_share").count() == 1


def test_idempotency_keys_are_per_brand(world):
    world.contract.__class__.objects.filter(pk=world.other_contract.pk).update(revenue_share_bps=100)
    a = world.client("brand").post(SALES, sale_body(world), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    b = world.client("other_brand").post(SALES, sale_body(world, contract=world.other_contract.id), format="json",
                                         HTTP_IDEMPOTENCY_KEY="shared")
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


@pytest.mark.parametrize(("who", "status", "code"), [
    ("other_brand", 404, "not_found"), ("performer", 403, "forbidden"), ("union", 403, "forbidden"),
])
def test_only_the_contracts_brand_books_sales(world, who, status, code):
    response = world.client(who).post(SALES, sale_body(world), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert_error(response, status, code)
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(("overrides", "field"), [
    ({"gross": "250000"}, "gross"), ({"gross": 2.5}, "gross"), ({"gross": True}, "gross"), ({"gross": 0}, "gross"),
    ({"gross": -5}, "gross"), ({"gross": 2**60}, "gross"), ({"currency": "usd"}, "currency"),
    ({"currency": "ZZZ"}, "currency"), ({"period_start": "2026-02-30"}, "period_start"),
    ({"period_start": 20261121}, "period_start"), ({"period_end": "2000-01-01"}, "period_end"),
    ({"extra": 1}, "extra"), ({"contract": None}, "contract"),
])
def test_sales_refuse_bad_bodies(world, overrides, field):
    response = world.client("brand").post(SALES, sale_body(world, **overrides), format="json",
                                          HTTP_IDEMPOTENCY_KEY="k")
    assert_error(response, 400, "invalid_request", field)
    assert not Transaction.objects.exists()


def test_sales_refuse_a_currency_the_contract_does_not_pay_in(world):
    response = world.client("brand").post(SALES, sale_body(world, currency="EUR"), format="json",
                                          HTTP_IDEMPOTENCY_KEY="k")
    assert_error(response, 400, "invalid_request", "currency")


@pytest.mark.parametrize("key", [None, "", "has space", "x" * 256, "naïve"])
def test_sales_need_a_sane_idempotency_key(world, key):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    response = world.client("brand").post(SALES, sale_body(world), format="json", **headers)
    assert_error(response, 400, "invalid_request", "Idempotency-Key")


@pytest.mark.parametrize(("raw", "status"), [
    (b"{not json", 400), (b"[1, 2]", 400), (b'{"gross": NaN}', 400),
    (b'{"contract": "a", "contract": "b"}', 400), (b"{}", 400), (b" " * 10 + b"{" + b'"a":' * 1 + b"1}", 400),
])
def test_sales_refuse_malformed_json(world, raw, status):
    response = world.client("brand").post(SALES, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == status and response.json()["error"]["code"] == "invalid_request"


def test_sales_refuse_oversized_bodies(world, settings):
    blob = b'{"contract": "' + b"x" * (settings.DOPPEL_MAX_JSON_BYTES + 10) + b'"}'
    response = world.client("brand").post(SALES, blob, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    assert_error(response, 413, "payload_too_large")


# --- statements ---------------------------------------------------------------------------------


def test_a_monthly_statement(world, post, key):
    txn = post(world.contract, duration_s=10)
    services.transaction_reverse(transaction=txn, reason="refund", idempotency_key=key())
    post(world.contract, duration_s=0)
    month = timezone.now().strftime("%Y-%m")
    body = world.client("performer").get(STMT, {"month": month}).json()
    assert body["performer"] == world.performer.id and body["month"] == month
    assert body["currencies"] == [{"currency": "USD", "opening_balance": 0, "royalties": 1100, "revenue_share": 0,
                                   "reversals": -600, "payouts": 0, "payments_received": 0, "other": 0,
                                   "renders": 2,
                                   "closing_balance": 500,
                                   # Issue 10: every sum of money also as an exact decimal string.
                                   "opening_balance_exact": "0", "royalties_exact": "1100",
                                   "revenue_share_exact": "0", "reversals_exact": "-600", "payouts_exact": "0",
                                   "payments_received_exact": "0",
                                   "other_exact": "0", "closing_balance_exact": "500"}]
    assert [line["amount"] for line in body["lines"]] == [600, -600, 500]
    next_month = (timezone.now().replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
    later = world.client("performer").get(STMT, {"month": next_month}).json()
    assert later["currencies"][0]["opening_balance"] == 500 and later["lines"] == []


def test_a_truncated_statement_still_totals_every_posting(world, post):
    from ledger import statements

    for seconds in (1, 2, 3):
        post(world.contract, duration_s=seconds)
    body = statements.statement_build(party=world.performer, month=timezone.now().date(), line_limit=2)
    assert body["truncated"] is True and len(body["lines"]) == 2
    assert body["currencies"][0]["royalties"] == 510 + 520 + 530
    assert body["currencies"][0]["closing_balance"] == 510 + 520 + 530
    assert body["currencies"][0]["renders"] == 3 and body["contracts"][0]["billed_seconds"] == 6


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "abc", "0000-01", "2026-11-01"])
def test_statements_refuse_bad_months(world, month):
    assert_error(world.client("performer").get(STMT, {"month": month}), 400, "invalid_request", "month")


# --- query counts -------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "extra"), [(TX, {}), (USAGE, {})])
def test_list_endpoints_use_a_constant_number_of_queries(world, post, django_assert_num_queries, path, extra):
    client = world.client("union")
    client.get(path)  # warm up: the key's last_used_at is written once a minute
    post(world.contract)
    with django_assert_num_queries(3 if path == TX else 2) as few:
        assert len(client.get(path, extra).json()["results"]) == 1
    for _ in range(9):
        post(world.contract)
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(client.get(path, extra).json()["results"]) == 10
