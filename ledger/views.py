"""Thin API views of the ledger (shared/API.md "Ledger")."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.pagination import paginated_response
from common.api.requests import idempotency_key_header, query_params
from common.api.schema import ERRORS, paginated
from common.errors import InvalidRequest, NotFound
from common.spreadsheet import _Echo as Echo
from common.spreadsheet import safe_cell
from ledger import selectors, services, statements
from ledger.exceptions import LogQuarantined, NotYetLogged
from ledger.serializers import (
    BalanceQuerySerializer,
    BalancesOutSerializer,
    ConsistencyProofOutSerializer,
    ConsistencyQuerySerializer,
    InclusionProofOutSerializer,
    InclusionQuerySerializer,
    SaleCreateInSerializer,
    SaleOutSerializer,
    StatementOutSerializer,
    StatementQuerySerializer,
    TransactionListQuerySerializer,
    TransactionOutSerializer,
    TreeHeadOutSerializer,
    UsageQuerySerializer,
    UsageRowOutSerializer,
)
from rights import selectors as rights_selectors
from rights.auth import ANY_PARTY, roles
from rights.models import PartyKind

# How long a client should wait before asking again for a proof not yet in the log:
# the worker is nudged within DOPPEL_LEDGER_SEQUENCE_NUDGE_MS (1 s) of a commit.
RETRY_AFTER_S = 2


def _not_yet_logged(message: str, **extra) -> NotYetLogged:
    return NotYetLogged(message, retry_after=RETRY_AFTER_S, **extra)


class LedgerTransactionListApi(APIView):
    @extend_schema(
        operation_id="ledger_transactions_list",
        parameters=[OpenApiParameter("kind", str), OpenApiParameter("contract", str),
                    OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses={200: paginated(TransactionOutSerializer), **ERRORS},
        description="Transactions touching the caller's accounts (a union: also its members'), newest "
                    "first, each with every posting — all an auditor needs to rebuild its Merkle leaf.",
    )
    @roles(*ANY_PARTY)
    def get(self, request):
        params = query_params(request, TransactionListQuerySerializer)
        qs = selectors.transactions_visible(viewer=request.user)
        if "kind" in params:
            qs = qs.filter(kind=params["kind"])
        if "contract" in params:
            qs = qs.filter(contract_id=params["contract"])
        return paginated_response(request=request, view=self, queryset=qs,
                                  serialize=lambda page: TransactionOutSerializer(page, many=True).data)


class LedgerBalanceListApi(APIView):
    @extend_schema(
        operation_id="ledger_balances",
        parameters=[OpenApiParameter("party", str, description="Defaults to the caller")],
        responses={200: BalancesOutSerializer, **ERRORS},
        description="Balances per account and currency of the caller, or (for a union) of a member. "
                    "`balance` is signed by the account's normal side.",
    )
    @roles(*ANY_PARTY)
    def get(self, request):
        params = query_params(request, BalanceQuerySerializer)
        party = selectors.party_visible(viewer=request.user, party_id=params.get("party") or request.user.id)
        if party is None:
            raise NotFound()
        return Response(BalancesOutSerializer({"party": party.id,
                                               "balances": selectors.balances_for_party(party=party)}).data)


class LedgerTreeHeadApi(APIView):
    @extend_schema(
        operation_id="ledger_tree_head",
        responses={200: TreeHeadOutSerializer, **ERRORS},
        description="The latest signed tree head: `checkpoint` is a C2SP tlog-checkpoint signed note "
                    "(Ed25519), `verifier_key` its note verifier key. `timestamp` is not signed. Read-only: "
                    "the worker's sequencer signs every head, the empty log's on its first run; before that, "
                    "409 `not_yet_logged` with `Retry-After`.",
    )
    @roles(*ANY_PARTY)
    def get(self, request):
        head = selectors.tree_head_latest()
        if head is None:
            raise _not_yet_logged("The log has no signed tree head yet; the sequencer signs one on its first run.")
        return Response(TreeHeadOutSerializer(head).data)


class LedgerInclusionProofApi(APIView):
    @extend_schema(
        operation_id="ledger_inclusion_proof",
        parameters=[OpenApiParameter("transaction", str, required=True),
                    OpenApiParameter("tree_size", int, description="Defaults to the latest signed size")],
        responses={200: InclusionProofOutSerializer, **ERRORS},
        description="RFC 9162 inclusion proof of a transaction the caller can see. `leaf` is the canonical "
                    "JSON rebuilt from the transaction as stored now; `leaf_hash` the hash the log holds. "
                    "Read-only: transactions are sequenced by the worker, within seconds of their commit. "
                    "One not in the signed log yet, or beyond `tree_size`: 409 `not_yet_logged` with a "
                    "`Retry-After` header (seconds). One the sequencer could not log (its data is "
                    "malformed; an operator is alerted): 409 `log_quarantined`.",
    )
    @roles(*ANY_PARTY)
    def get(self, request):
        params = query_params(request, InclusionQuerySerializer)
        txn = selectors.transaction_visible(viewer=request.user, transaction_id=params["transaction"])
        if txn is None:
            raise NotFound()
        leaf_index = selectors.log_leaf_index(transaction_id=txn.id)
        if leaf_index is None and selectors.log_quarantined(transaction_id=txn.id):
            raise LogQuarantined("The transaction is committed, but the log could not include it; an operator "
                                 "has been alerted.")
        head = selectors.tree_head_latest()
        if leaf_index is None or head is None:
            raise _not_yet_logged("The transaction is not in the signed log yet; retry shortly.")
        tree_size = params.get("tree_size", head.size)
        if tree_size > head.size:
            raise InvalidRequest(fields={"tree_size": [f"The log's latest signed size is {head.size}."]})
        if leaf_index >= tree_size:
            raise _not_yet_logged(f"The transaction is leaf {leaf_index}, beyond a tree of size {tree_size}.",
                                  leaf_index=leaf_index)
        leaf_hash, path = selectors.log_inclusion(index=leaf_index, tree_size=tree_size)
        return Response(InclusionProofOutSerializer({
            "transaction": txn.id, "leaf_index": leaf_index, "tree_size": tree_size,
            "leaf": selectors.leaf_text_of(txn.id), "leaf_hash": leaf_hash.hex(),
            "audit_path": [h.hex() for h in path],
        }).data)


class LedgerConsistencyProofApi(APIView):
    @extend_schema(
        operation_id="ledger_consistency_proof",
        parameters=[OpenApiParameter("first", int, required=True), OpenApiParameter("second", int, required=True)],
        responses={200: ConsistencyProofOutSerializer, **ERRORS},
        description="RFC 9162 consistency proof between two tree sizes, 1 ≤ first ≤ second ≤ the latest "
                    "signed size.",
    )
    @roles(*ANY_PARTY)
    def get(self, request):
        params = query_params(request, ConsistencyQuerySerializer)
        head = selectors.tree_head_latest()
        size = head.size if head else 0
        if params["second"] > size:
            raise InvalidRequest(fields={"second": [f"The log's latest signed size is {size}."]})
        proof = selectors.log_consistency_proof(first=params["first"], second=params["second"])
        return Response(ConsistencyProofOutSerializer(
            {"first": params["first"], "second": params["second"], "proof": [h.hex() for h in proof]}).data)


class UsageReportApi(APIView):
    def perform_content_negotiation(self, request, force=False):
        # ``format`` is our own parameter (json|csv), not DRF's renderer override;
        # errors are always JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        operation_id="usage_report",
        parameters=[OpenApiParameter("from", str, description="ISO date or datetime (inclusive)"),
                    OpenApiParameter("to", str, description="ISO date (inclusive) or datetime (exclusive)"),
                    OpenApiParameter("format", str, enum=["json", "csv"]),
                    OpenApiParameter("status", str, enum=["open", "posted", "voided"]),
                    OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses={(200, "application/json"): paginated(UsageRowOutSerializer),
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="`format=csv`: every row"),
                   **ERRORS},
        description="One row per metered use (ledger hold) of the contracts the caller can see: JSON pages, "
                    "or the whole range as CSV (`format=csv`, streamed).",
    )
    @roles(*ANY_PARTY)
    def get(self, request):
        params = query_params(request, UsageQuerySerializer)
        qs = selectors.usage_holds(viewer=request.user, start=params.get("from"), end=params.get("to"),
                                   status=params.get("status"))
        if params["format"] == "csv":
            response = StreamingHttpResponse(self._csv(qs), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="doppel-usage.csv"'
            return response
        return paginated_response(request=request, view=self, queryset=qs,
                                  serialize=lambda page: UsageRowOutSerializer(
                                      [selectors.usage_row(h) for h in page], many=True).data)

    @staticmethod
    def _csv(qs) -> Iterator[str]:
        writer = csv.writer(Echo())
        yield writer.writerow(selectors.USAGE_COLUMNS)
        for hold in qs.order_by("created_at", "id").iterator(chunk_size=1000):
            row = selectors.usage_row(hold)
            yield writer.writerow([safe_cell(row[c]) for c in selectors.USAGE_COLUMNS])


class SaleCreateApi(APIView):
    @extend_schema(
        operation_id="sales_create",
        request=SaleCreateInSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
        responses={201: SaleOutSerializer, **ERRORS},
        description=(
            "A brand reports gross sales of a period (`period_start` … `period_end`, days, both included) under "
            "one of its contracts; the performer's revenue share (plus union P&H and our fee, on top) is booked "
            "as one transaction. Replaying the key with the same body returns the same transaction.\n\n"
            "**One report per day of a contract.** A report whose period overlaps a standing report of the "
            "same contract — the same sale sent again under another key, or a correction — is refused: 409 "
            "`sale_already_reported`, naming the standing report's `transaction`, `period_start` and "
            "`period_end`. A correction goes through support, who reverse the standing report; its days can "
            "then be reported again.\n\n"
            "**The contract's state.** Sales are reported for days on which the contract was in force: from "
            "its acceptance (or `valid_from`, if later) to its end (`valid_until`, or its termination), and "
            "not after today (UTC). Reports may come late: after a suspension (which stops new renders, not "
            "the revenue share), an expiry or a termination, the days before the end can still be reported. "
            "A never-accepted contract or one without a revenue share: 409 `invalid_state`; days after a "
            "termination: 409 `invalid_state`; other days outside the contract or in the future: 400 "
            "`invalid_request`.\n\n"
            "**Bounds.** `gross` ≤ 2^53 − 1 (400 beyond); if what the brand pays (share + P&H + fee) would "
            "exceed 2^53 − 1 minor units: 422 `amount_limit_exceeded`, nothing booked."
        ),
    )
    @roles(PartyKind.BRAND)
    def post(self, request):
        key = idempotency_key_header(request)
        ser = SaleCreateInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        contract = rights_selectors.contract_get(party=request.user, contract_id=data["contract"])
        if contract is None:
            raise NotFound()
        txn = services.revenue_share_book(
            contract=contract, gross=data["gross"], currency=data["currency"], period_start=data["period_start"],
            period_end=data["period_end"],
            # Scoped by brand, so one brand's keys can neither collide with nor probe another's.
            idempotency_key=f"sales:{request.user.id}:{hashlib.sha256(key.encode()).hexdigest()}",
        )
        txn = selectors.transactions_visible(viewer=request.user).get(id=txn.id)
        return Response(SaleOutSerializer(txn).data, status=201)


class LedgerStatementApi(APIView):
    def perform_content_negotiation(self, request, force=False):
        # ``format`` is our own parameter (json|csv|pdf), not DRF's renderer override;
        # errors are always JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        operation_id="ledger_statement",
        parameters=[OpenApiParameter("month", str, required=True, description="YYYY-MM (UTC)"),
                    OpenApiParameter("format", str, enum=["json", "csv", "pdf"]),
                    OpenApiParameter("party", str, description="Defaults to the caller (a union: or a member)"),
                    OpenApiParameter("performer", str, description="Like `party`, for a performer only")],
        responses={(200, "application/json"): StatementOutSerializer,
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="`format=csv`: every line"),
                   (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="`format=pdf`"),
                   **ERRORS},
        description="A party's monthly statement of its own account (performer: payable; union: pension & "
                    "health; brand: receivable): opening and closing balance, every use, revenue share, "
                    "reversal, payout and payment, per currency and contract. JSON lists up to 5,000 lines "
                    "(totals count all), CSV streams every line, PDF prints the JSON's page.",
    )
    @roles(*ANY_PARTY)
    def get(self, request):
        params = query_params(request, StatementQuerySerializer)
        wanted = params.get("party") or params.get("performer") or request.user.id
        party = selectors.party_visible(viewer=request.user, party_id=wanted)
        if party is None or party.kind not in statements.STATEMENT_PURPOSE or (
                params.get("performer") and party.kind != PartyKind.PERFORMER):
            raise NotFound()
        if params["format"] == "csv":
            return self._csv_response(party, params["month"])
        statement = statements.statement_build(party=party, month=params["month"])
        if params["format"] == "pdf":
            response = HttpResponse(statements.statement_pdf(statement), content_type="application/pdf")
            response["Content-Disposition"] = f'attachment; filename="{statements.statement_filename(statement, "pdf")}"'
            return response
        return Response(StatementOutSerializer(statement).data)

    @staticmethod
    def _csv_response(party, month) -> StreamingHttpResponse:
        def rows() -> Iterator[str]:
            writer = csv.writer(Echo())
            yield writer.writerow(statements.LINE_COLUMNS)
            for line in statements.statement_lines(party=party, month=month):
                yield writer.writerow([safe_cell(line[c]) for c in statements.LINE_COLUMNS])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        name = statements.statement_filename({"party": party.id, "month": f"{month.year:04d}-{month.month:02d}"}, "csv")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
