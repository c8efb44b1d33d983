"""Monthly statements (ledger/statements.py, GET /api/v1/ledger/statements): performer, union
and brand, as JSON, CSV and PDF; totals against balances summed here from Posting rows."""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ledger import services, statements
from ledger.models import DEBIT_NORMAL, Posting, Side, Transaction
from ledger.pdf import html_to_pdf
from ledger.services import Leg
from tests.ledger.factories import make_contract
from tests.ledger.test_views import assert_error

STMT = "/api/v1/ledger/statements"


def this_month() -> str:
    return timezone.now().strftime("%Y-%m")


def independent_balance(party, purpose: str, *, before: datetime | None = None) -> int:
    """The party's balance of ``purpose`` in USD, summed here row by row."""
    rows = Posting.objects.filter(account__party=party, account__purpose=purpose, currency="USD")
    if before is not None:
        rows = rows.filter(created_at__lt=before)
    total = 0
    for side, amount in rows.values_list("side", "amount"):
        grows = Side.DEBIT if purpose in DEBIT_NORMAL else Side.CREDIT
        total += amount if side == grows else -amount
    return total


def use(world, key, *, seconds: float, excerpt: str | None = "Drink it cold, drink it now", language="en",
        contract=None):
    meta = {"platform": "tiktok", "category": "soft_drinks", "language": language, "territory": "US",
            "script_chars": 40}
    if excerpt is not None:
        meta["script_excerpt"] = excerpt
    hold = services.hold_create(contract=contract or world.contract, reference=key("gen"),
                                idempotency_key=key("hold"), meta=meta)
    return services.hold_post(hold=hold, duration_s=seconds, idempotency_key=key("post"))


def payout_step(party, purpose, key, *, payout: str, step: str, amount: int) -> Transaction:
    """One payout step as the payments app books it (see ledger.statements)."""
    payee = services.account_get_or_create(party=party, purpose=purpose, currency="USD")
    clearing = services.account_get_or_create(party=None, purpose="clearing", currency="USD")
    cash = services.account_get_or_create(party=None, purpose="stripe_cash", currency="USD")
    legs = {
        "reserve": [Leg(payee, Side.DEBIT, amount, "USD"), Leg(clearing, Side.CREDIT, amount, "USD")],
        "paid": [Leg(clearing, Side.DEBIT, amount, "USD"), Leg(cash, Side.CREDIT, amount, "USD")],
        "returned": [Leg(clearing, Side.DEBIT, amount, "USD"), Leg(payee, Side.CREDIT, amount, "USD")],
    }[step]
    return services.transaction_record(kind="payout", legs=legs, idempotency_key=key("po"), reference=payout,
                                       meta={"payout": payout, "step": step})


@pytest.fixture
def month(world, key):
    """A month of activity: four uses (one without an excerpt, one reversed), a revenue
    share, payouts of the performer (one paid, one returned) and of the union, and a brand
    payment booked as an adjustment (``settlement`` needs the payments app's migration)."""
    uses = [use(world, key, seconds=6.2), use(world, key, seconds=12, excerpt=None),
            use(world, key, seconds=3, language="es", excerpt="¡Bébelo frío!"), use(world, key, seconds=1)]
    services.transaction_reverse(transaction=uses[1], reason="refund", idempotency_key=key("rev"))
    today = timezone.now().date()
    services.revenue_share_book(contract=world.contract, gross=250_000, currency="USD", period_start=today,
                                period_end=today, idempotency_key=key("sale"))
    payout_step(world.performer, "payable", key, payout="po_1", step="reserve", amount=1000)
    payout_step(world.performer, "payable", key, payout="po_1", step="paid", amount=1000)
    payout_step(world.performer, "payable", key, payout="po_2", step="reserve", amount=300)
    payout_step(world.performer, "payable", key, payout="po_2", step="returned", amount=300)
    payout_step(world.union, "pension_health", key, payout="po_3", step="reserve", amount=50)
    receivable = services.account_get_or_create(party=world.brand, purpose="receivable", currency="USD")
    cash = services.account_get_or_create(party=None, purpose="stripe_cash", currency="USD")
    services.transaction_record(kind="adjustment", legs=[Leg(cash, Side.DEBIT, 400, "USD"),
                                                         Leg(receivable, Side.CREDIT, 400, "USD")],
                                idempotency_key=key("pay"), reference="in_1", meta={"invoice": "in_1"})
    # The other pair's activity, which no statement of ours may show.
    hold = services.hold_create(contract=world.other_contract, reference=key("gen"), idempotency_key=key("hold"),
                                meta={"platform": "tiktok", "script_excerpt": "theirs"})
    services.hold_post(hold=hold, duration_s=5, idempotency_key=key("post"))
    return uses


# --- the three statements ----------------------------------------------------------------------


@pytest.mark.parametrize(("who", "purpose"), [("performer", "payable"), ("union", "pension_health"),
                                              ("brand", "receivable")])
def test_each_party_gets_its_own_account_and_the_balances_match_the_postings(world, month, who, purpose):
    party = getattr(world, who)
    body = world.client(who).get(STMT, {"month": this_month()}).json()
    assert body["party"] == party.id and body["account_purpose"] == purpose and body["party_kind"] == who
    [usd] = body["currencies"]
    start = datetime.fromisoformat(body["period_start"].replace("Z", "+00:00"))
    assert usd["opening_balance"] == independent_balance(party, purpose, before=start) == 0
    assert usd["closing_balance"] == independent_balance(party, purpose) != 0
    # The totals add up to the movement, and the lines to the totals.
    buckets = ("royalties", "revenue_share", "reversals", "payouts", "payments_received", "other")
    assert usd["opening_balance"] + sum(usd[b] for b in buckets) == usd["closing_balance"]
    per_bucket = defaultdict(int)
    for line in body["lines"]:
        per_bucket[line["bucket"]] += line["amount"]
    assert {b: per_bucket[b] for b in buckets} == {b: usd[b] for b in buckets}
    assert body["line_count"] == len(body["lines"]) and body["truncated"] is False
    assert "theirs" not in str(body) and world.other_brand.name not in str(body)


def test_the_performer_sees_every_use_revenue_share_reversal_and_payout(world, month):
    body = world.client("performer").get(STMT, {"month": this_month()}).json()
    [usd] = body["currencies"]
    # Royalties: 500 + 10/s over 7, 12, 3, 1 billed seconds; the 12 s one reversed.
    assert usd["royalties"] == 570 + 620 + 530 + 510 and usd["reversals"] == -620 and usd["renders"] == 4
    assert usd["revenue_share"] == 12_500  # 5 % of 250,000
    assert usd["payouts"] == -1000 - 300 + 300 and usd["other"] == 0
    uses = [line for line in body["lines"] if line["kind"] == "royalty"]
    assert [(u["seconds"], u["language"], u["platform"], u["brand"]) for u in uses] == [
        (7, "en", "tiktok", world.brand.name), (12, "en", "tiktok", world.brand.name),
        (3, "es", "tiktok", world.brand.name), (1, "en", "tiktok", world.brand.name)]
    assert [u["script_excerpt"] for u in uses] == ["Drink it cold, drink it now", "", "¡Bébelo frío!",
                                                   "Drink it cold, drink it now"]
    [reversal] = [line for line in body["lines"] if line["kind"] == "reversal"]
    assert reversal["reverses"] == month[1].id and reversal["seconds"] == -12 and reversal["amount"] == -620
    payouts = [(line["payout"], line["payout_step"], line["amount"]) for line in body["lines"]
               if line["kind"] == "payout"]
    assert payouts == [("po_1", "reserve", -1000), ("po_2", "reserve", -300), ("po_2", "returned", 300)]
    in_contract = usd["closing_balance"] + 1000  # the payouts belong to no contract
    assert body["contracts"] == [
        {"contract": None, "currency": "USD", "renders": 0, "billed_seconds": 0, "amount": -1000,
         "amount_exact": "-1000"},
        {"contract": world.contract.id, "currency": "USD", "renders": 4, "billed_seconds": 23,
         "amount": in_contract, "amount_exact": str(in_contract)}]


def test_the_union_sees_its_pension_and_health_and_its_payout(world, month):
    body = world.client("union").get(STMT, {"month": this_month()}).json()
    [usd] = body["currencies"]
    def bps_half_up(amount: int) -> int:
        return (amount * 850 + 5_000) // 10_000

    assert usd["royalties"] == sum(bps_half_up(a) for a in (570, 620, 530, 510))
    assert usd["payouts"] == -50 and usd["revenue_share"] == bps_half_up(12_500) == 1063
    assert {line["performer"] for line in body["lines"] if line["kind"] == "royalty"} == {world.performer.name}


def test_the_brand_sees_what_it_owes_and_what_it_paid(world, month):
    body = world.client("brand").get(STMT, {"month": this_month()}).json()
    [usd] = body["currencies"]
    assert usd["royalties"] > 0 and usd["revenue_share"] > 12_500 and usd["reversals"] < 0
    assert usd["other"] == -400 and usd["payouts"] == 0
    assert [line["reference"] for line in body["lines"] if line["bucket"] == "other"] == ["in_1"]


def test_a_settlement_is_payments_received(world):
    """``settlement`` is the payments app's kind (its migration is not here yet): the line
    builder knows it by name, whatever TransactionKind says."""
    txn = Transaction(id="tx_s", kind="settlement", meta={"invoice": "in_9"}, reference="in_9",
                      created_at=timezone.now())
    posting = Posting(transaction=txn, side=Side.CREDIT, amount=700, currency="USD", created_at=txn.created_at)
    line = statements._line(posting, "receivable")
    assert (line["bucket"], line["label"], line["amount"]) == ("payments_received", "payments received", -700)
    txn.kind = "chargeback"
    assert statements._line(posting, "receivable")["bucket"] == "other"


# --- CSV and PDF -------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["performer", "union", "brand"])
def test_the_csv_lines_add_up_to_the_json_totals(world, month, who):
    client = world.client(who)
    body = client.get(STMT, {"month": this_month()}).json()
    response = client.get(STMT, {"month": this_month(), "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        f'attachment; filename="doppel-statement-{getattr(world, who).id}-{this_month()}.csv"')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == body["line_count"] > 0
    [usd] = body["currencies"]
    assert sum(int(row["amount"]) for row in rows) == usd["closing_balance"] - usd["opening_balance"]
    assert [row["transaction"] for row in rows] == [line["transaction"] for line in body["lines"]]


def test_csv_streams_every_line_past_the_json_cap(world, key):
    for seconds in (1, 2, 3):
        use(world, key, seconds=seconds, excerpt="=HYPERLINK(1)")
    capped = statements.statement_build(party=world.performer, month=timezone.now().date(), line_limit=2)
    assert capped["truncated"] is True and len(capped["lines"]) == 2 and capped["line_count"] == 3
    assert capped["currencies"][0]["royalties"] == 510 + 520 + 530
    response = world.client("performer").get(STMT, {"month": this_month(), "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3 and sum(int(r["amount"]) for r in rows) == 510 + 520 + 530
    assert {r["script_excerpt"] for r in rows} == {"'=HYPERLINK(1)"}  # no formula injection


def pdf_text(statement) -> str:
    """The text WeasyPrint laid out on the pages of the statement's PDF."""
    from weasyprint import HTML

    from ledger.pdf import _refusing_fetcher

    document = HTML(string=statements.statement_html(statement), url_fetcher=_refusing_fetcher()).render()
    texts = []

    def walk(box):
        if getattr(box, "text", None):
            texts.append(box.text)
        for child in getattr(box, "children", ()):
            walk(child)

    for page in document.pages:
        walk(page._page_box)
    return " ".join(texts)


def test_the_pdf_prints_the_statement(world, month):
    response = world.client("performer").get(STMT, {"month": this_month(), "format": "pdf"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-") and response.content.rstrip().endswith(b"%%EOF")
    assert response["Content-Disposition"] == (
        f'attachment; filename="doppel-statement-{world.performer.id}-{this_month()}.pdf"')
    statement = statements.statement_build(party=world.performer, month=timezone.now().date())
    text = pdf_text(statement)
    closing = statement["currencies"][0]["closing_balance"]
    assert f"Closing balance {closing}" in text
    assert "¡Bébelo frío!" in text and "po_2 (returned)" in text


def test_the_pdf_fetches_nothing():
    from weasyprint.urls import FatalURLFetchingError

    with pytest.raises(FatalURLFetchingError):
        html_to_pdf('<html><body><img src="http://127.0.0.1:9/x.png"></body></html>')
    with pytest.raises(FatalURLFetchingError):
        html_to_pdf('<html><head><link rel="stylesheet" href="file:///etc/passwd"></head><body>x</body></html>')


def test_a_pdf_of_200_lines_is_fast(world, key):
    contract = make_contract(performer=world.performer, brand=world.brand, max_renders=1000)
    for i in range(200):
        use(world, key, seconds=1 + i % 9, contract=contract, excerpt=f"Line {i}: drink it cold, drink it now")
    statement = statements.statement_build(party=world.performer, month=timezone.now().date())
    assert statement["line_count"] == 200
    started = time.perf_counter()
    pdf = statements.statement_pdf(statement)
    elapsed = time.perf_counter() - started
    print(f"PDF of 200 lines: {elapsed * 1000:.0f} ms, {len(pdf)} bytes")
    assert pdf.startswith(b"%PDF-") and elapsed < 5.0  # a few hundred ms; loose for a shared CI box


# --- months, visibility, input, queries --------------------------------------------------------


def test_the_month_boundary_is_midnight_utc(world, key):
    """A posting at 23:59:59.999999 on the last day belongs to that month; one at 00:00 on
    the 1st to the next (and to its opening balance only once it is past)."""
    payable = services.account_get_or_create(party=world.performer, purpose="payable", currency="USD")
    fee = services.account_get_or_create(party=None, purpose="platform_fee", currency="USD")

    def credit(at: datetime, amount: int) -> None:
        with mock.patch("django.utils.timezone.now", return_value=at):
            services.transaction_record(kind="adjustment", idempotency_key=key("adj"), legs=[
                Leg(fee, Side.DEBIT, amount, "USD"), Leg(payable, Side.CREDIT, amount, "USD")])

    credit(datetime(2025, 1, 31, 23, 59, 59, 999999, tzinfo=UTC), 7)
    credit(datetime(2025, 2, 1, 0, 0, tzinfo=UTC), 11)
    jan = statements.statement_build(party=world.performer, month=date(2025, 1, 1))
    feb = statements.statement_build(party=world.performer, month=date(2025, 2, 1))
    mar = statements.statement_build(party=world.performer, month=date(2025, 3, 1))
    assert [line["amount"] for line in jan["lines"]] == [7] and [line["amount"] for line in feb["lines"]] == [11]
    assert (jan["currencies"][0]["opening_balance"], jan["currencies"][0]["closing_balance"]) == (0, 7)
    assert (feb["currencies"][0]["opening_balance"], feb["currencies"][0]["closing_balance"]) == (7, 18)
    assert (mar["currencies"][0]["opening_balance"], mar["lines"]) == (18, [])
    assert feb["period_start"].startswith("2025-02-01T00:00:00") and feb["period_end"].startswith("2025-03-01")


@pytest.mark.parametrize(("who", "params", "status", "party"), [
    ("other_performer", {}, 200, "other_performer"),  # an outsider gets its own, empty, statement
    ("performer", {"party": "brand"}, 404, None),
    ("performer", {"performer": "other_performer"}, 404, None),
    ("brand", {"performer": "performer"}, 404, None),
    ("brand", {"party": "other_brand"}, 404, None),
    ("union", {"party": "performer"}, 200, "performer"),  # a union reads its members' books
    ("other_union", {"party": "performer"}, 404, None),
    ("union", {"performer": "union"}, 404, None),  # `performer` names performers only
])
def test_statements_show_only_what_the_caller_may_read(world, month, who, params, status, party):
    query = {"month": this_month(), **{k: getattr(world, v).id for k, v in params.items()}}
    for fmt in ("json", "csv"):
        response = world.client(who).get(STMT, {**query, "format": fmt})
        assert response.status_code == status
    if party is not None:
        body = world.client(who).get(STMT, query).json()
        assert body["party"] == getattr(world, party).id
        if who == "other_performer":
            assert body["lines"] == [] or {line["brand"] for line in body["lines"]} == {world.other_brand.name}
            assert world.brand.name not in str(body)


@pytest.mark.parametrize(("params", "field"), [
    ({"month": "2026-13"}, "month"), ({"month": "1969-12"}, "month"), ({"month": "9999-01"}, "month"),
    ({"month": "2026-1"}, "month"), ({}, "month"), ({"month": "2026-01", "format": "xml"}, "format"),
    ({"month": "2026-01", "format": "PDF"}, "format"),
])
def test_bad_input_is_refused(world, params, field):
    assert_error(world.client("performer").get(STMT, params), 400, "invalid_request", field)


def test_a_future_month_is_an_empty_statement(world, month):
    body = world.client("performer").get(STMT, {"month": "9998-12"}).json()
    [usd] = body["currencies"]
    assert body["lines"] == [] and usd["opening_balance"] == usd["closing_balance"] == \
        independent_balance(world.performer, "payable")


def test_json_queries_do_not_grow_with_the_lines(world, key):
    client = world.client("performer")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(STMT, {"month": this_month()}).status_code == 200
        return len(queries)

    use(world, key, seconds=2)
    services.transaction_reverse(transaction=use(world, key, seconds=3), reason="refund", idempotency_key=key())
    count()  # the first request of a key also records its use
    few = count()
    for seconds in range(1, 8):
        use(world, key, seconds=seconds)
    payout_step(world.performer, "payable", key, payout="po_9", step="reserve", amount=10)
    assert count() == few


def test_making_a_pdf_leaves_pillows_truncated_image_check_on():
    """WeasyPrint sets ImageFile.LOAD_TRUNCATED_IMAGES = True when imported; a truncated
    portrait uploaded after a statement was printed must still be refused."""
    from PIL import ImageFile

    from ledger.pdf import html_to_pdf

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert html_to_pdf("<p>ok</p>").startswith(b"%PDF")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
