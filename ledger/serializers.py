"""Input and output serializers of the ledger API."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import ObjectDoesNotExist
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api.fields import StrictCharField, StrictIntegerField, TimestampField
from common.api.serializers import PageQuerySerializer, StrictSerializer
from ledger.log.leaf import MAX_SAFE_INTEGER, format_timestamp
from ledger.models import MAX_AMOUNT, AccountPurpose, HoldStatus, Side, TransactionKind
from ledger.selectors import RoyaltySummary, royalty_summary
from rights import vocab

MAX_TREE_SIZE = 2**63 - 1


# The ledger's calendar: every date or instant a query or a body names lies in these
# years (UTC). Nothing is booked before 1970, and the upper bound leaves room for the
# "end of that day / month" arithmetic that an inclusive bound needs (year 9999's last
# day has no next midnight in Python's datetime). Beyond: 400 with the range.
EARLIEST = date(1970, 1, 1)
LATEST = date(9998, 12, 31)
RANGE_MESSAGE = f"Dates run from {EARLIEST.isoformat()} to {LATEST.isoformat()} (UTC)."


def check_in_calendar(day: date) -> date:
    """``day`` if it lies in the ledger's calendar, else a ValidationError naming the range."""
    if not EARLIEST <= day <= LATEST:
        raise serializers.ValidationError(RANGE_MESSAGE)
    return day


class StrictDateField(serializers.DateField):
    """A JSON string ``YYYY-MM-DD`` within the ledger's calendar; anything else
    (numbers, datetimes, year 0 or 9999) is refused."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            self.fail("invalid", format="YYYY-MM-DD")
        return check_in_calendar(super().to_internal_value(value))


def parse_instant(value: str, *, end: bool = False) -> datetime:
    """An ISO 8601 date or aware datetime within the ledger's calendar. A date means
    its midnight (UTC); as an upper bound, the midnight after it, so
    ``to=2026-11-30`` includes that day."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = parse_date(value)
            parsed = None if day is None else datetime.combine(check_in_calendar(day), time.min, tzinfo=UTC)
            if parsed is not None and end:
                parsed += timedelta(days=1)
        else:
            parsed = parse_datetime(value)
    except (ValueError, TypeError, OverflowError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise serializers.ValidationError("An ISO 8601 date (YYYY-MM-DD) or a datetime with a time zone.")
    if len(value) != 10:  # a datetime: its own (local) day, so converting to UTC cannot overflow
        check_in_calendar(parsed.date())
    return parsed


# --- queries ------------------------------------------------------------------------------


class TransactionListQuerySerializer(PageQuerySerializer):
    kind = serializers.ChoiceField(choices=TransactionKind.choices, required=False)
    contract = StrictCharField(max_length=32, required=False)


class BalanceQuerySerializer(StrictSerializer):
    party = StrictCharField(max_length=32, required=False)


class InclusionQuerySerializer(StrictSerializer):
    transaction = StrictCharField(max_length=32)
    tree_size = serializers.IntegerField(min_value=1, max_value=MAX_TREE_SIZE, required=False)


class ConsistencyQuerySerializer(StrictSerializer):
    first = serializers.IntegerField(min_value=1, max_value=MAX_TREE_SIZE)
    second = serializers.IntegerField(min_value=1, max_value=MAX_TREE_SIZE)

    def validate(self, attrs):
        if attrs["first"] > attrs["second"]:
            raise serializers.ValidationError({"first": ["Must not exceed second."]})
        return attrs


class UsageQuerySerializer(PageQuerySerializer):
    format = serializers.ChoiceField(choices=["json", "csv"], required=False, default="json")
    status = serializers.ChoiceField(choices=HoldStatus.choices, required=False)

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword: declare it (and its twin) by name.
        fields["from"] = StrictCharField(max_length=40, required=False)
        fields["to"] = StrictCharField(max_length=40, required=False)
        return fields

    def validate(self, attrs):
        errors = {}
        for name, is_end in (("from", False), ("to", True)):
            if name in attrs:
                try:
                    attrs[name] = parse_instant(attrs[name], end=is_end)
                except serializers.ValidationError as exc:
                    errors[name] = exc.detail
        if errors:
            raise serializers.ValidationError(errors)
        if "from" in attrs and "to" in attrs and attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"to": ["Must be after from."]})
        return attrs


class StatementQuerySerializer(StrictSerializer):
    party = StrictCharField(max_length=32, required=False)
    performer = StrictCharField(max_length=32, required=False)
    month = StrictCharField(max_length=7)
    format = serializers.ChoiceField(choices=["json", "csv", "pdf"], required=False, default="json")

    def validate(self, attrs):
        if attrs.get("party") and attrs.get("performer") and attrs["party"] != attrs["performer"]:
            raise serializers.ValidationError({"party": ["Name one party: party or performer, not two."]})
        return attrs

    def validate_month(self, value: str) -> date:
        match = re.fullmatch(r"(\d{4})-(\d{2})", value)
        if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
            raise serializers.ValidationError("A month as YYYY-MM.")
        return check_in_calendar(date(int(match[1]), int(match[2]), 1))


# --- bodies -----------------------------------------------------------------------------


class SaleCreateInSerializer(StrictSerializer):
    contract = StrictCharField(max_length=32)
    gross = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT)
    currency = StrictCharField(max_length=3, min_length=3)
    period_start = StrictDateField()
    period_end = StrictDateField()

    def validate_currency(self, value: str) -> str:
        if value not in vocab.currencies():
            raise serializers.ValidationError("An ISO 4217 currency code.")
        return value

    def validate(self, attrs):
        if attrs["period_end"] < attrs["period_start"]:
            raise serializers.ValidationError({"period_end": ["Must not precede period_start."]})
        return attrs


# --- outputs ----------------------------------------------------------------------------


class JsonSafeIntegerField(serializers.IntegerField):
    """A sum of money as a JSON number where every JSON reader holds it exactly
    (|n| ≤ 2^53 − 1, JavaScript's ``Number.MAX_SAFE_INTEGER``); ``null`` beyond,
    where a JavaScript client would silently round it. Its ``<name>_exact`` twin
    (``ExactIntegerField``) always carries the value (docs/ledger.md "Bounds")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "A JSON number up to ±(2^53 − 1), null beyond: the `_exact` twin is exact")
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value):
        value = int(value)
        return value if abs(value) <= MAX_SAFE_INTEGER else None


@extend_schema_field({"type": "string", "pattern": r"^-?[0-9]+$",
                      "description": "The same sum as a decimal string: exact at any size"})
class ExactIntegerField(serializers.Field):
    """An integer of any size as a decimal string (read-only)."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value) -> str:
        return str(int(value))


class PostingOutSerializer(serializers.Serializer):
    account = serializers.CharField(source="account_id")
    party = serializers.CharField(source="account.party_id", allow_null=True)
    purpose = serializers.ChoiceField(source="account.purpose", choices=AccountPurpose.choices)
    side = serializers.ChoiceField(choices=Side.choices)
    amount = serializers.IntegerField()
    currency = serializers.CharField()


class TransactionOutSerializer(serializers.Serializer):
    """Everything the transaction's Merkle leaf is made of, in the leaf's own format
    (``created_at`` with microseconds), so an auditor can rebuild the leaf."""

    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=TransactionKind.choices)
    created_at = serializers.SerializerMethodField()
    contract = serializers.CharField(source="contract_id", allow_null=True)
    hold = serializers.CharField(source="hold_id", allow_null=True)
    reverses = serializers.CharField(source="reverses_id", allow_null=True)
    reference = serializers.CharField()
    meta = serializers.DictField()
    postings = PostingOutSerializer(many=True)
    leaf_index = serializers.SerializerMethodField()

    def get_created_at(self, txn) -> str:
        return format_timestamp(txn.created_at)

    def get_leaf_index(self, txn) -> int | None:
        try:
            return txn.log_leaf.index
        except ObjectDoesNotExist:  # not sequenced yet
            return None


class SaleOutSerializer(TransactionOutSerializer):
    """The revenue-share transaction a sale booked, with its royalty summary."""

    royalty = serializers.SerializerMethodField()

    def get_royalty(self, txn) -> RoyaltySummary:
        return royalty_summary(txn)


class BalanceOutSerializer(serializers.Serializer):
    """One account's totals. ``debits``, ``credits`` and ``balance`` (signed by the
    account's normal side) are JSON numbers up to ±(2^53 − 1) and null beyond;
    their ``_exact`` twins are decimal strings, exact at any size."""

    account = serializers.CharField()
    purpose = serializers.ChoiceField(choices=AccountPurpose.choices)
    currency = serializers.CharField()
    normal_side = serializers.ChoiceField(choices=Side.choices)
    debits = JsonSafeIntegerField()
    debits_exact = ExactIntegerField(source="debits")
    credits = JsonSafeIntegerField()
    credits_exact = ExactIntegerField(source="credits")
    balance = JsonSafeIntegerField()
    balance_exact = ExactIntegerField(source="balance")


class BalancesOutSerializer(serializers.Serializer):
    party = serializers.CharField()
    balances = BalanceOutSerializer(many=True)


class TreeHeadOutSerializer(serializers.Serializer):
    size = serializers.IntegerField()
    root_hash = serializers.CharField()
    timestamp = TimestampField(help_text="Not signed")
    checkpoint = serializers.CharField(help_text="A C2SP tlog-checkpoint signed note")
    verifier_key = serializers.CharField(help_text="The note verifier key")


class InclusionProofOutSerializer(serializers.Serializer):
    transaction = serializers.CharField()
    leaf_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    leaf = serializers.CharField(help_text="The exact canonical JSON text that was hashed")
    leaf_hash = serializers.CharField()
    audit_path = serializers.ListField(child=serializers.CharField())


class ConsistencyProofOutSerializer(serializers.Serializer):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    proof = serializers.ListField(child=serializers.CharField())


class UsageRowOutSerializer(serializers.Serializer):
    """One metered use (``ledger.selectors.usage_row``); the CSV has the same columns."""

    hold = serializers.CharField()
    reference = serializers.CharField()
    contract = serializers.CharField()
    brand = serializers.CharField()
    performer = serializers.CharField()
    status = serializers.ChoiceField(choices=HoldStatus.choices)
    # usage_row writes its timestamps already (common.timefmt.iso); DRF passes strings through.
    created_at = serializers.DateTimeField()
    posted_at = serializers.DateTimeField(allow_null=True)
    voided_at = serializers.DateTimeField(allow_null=True)
    void_reason = serializers.CharField(allow_null=True)
    platform = serializers.CharField(allow_null=True)
    category = serializers.CharField(allow_null=True)
    language = serializers.CharField(allow_null=True)
    territory = serializers.CharField(allow_null=True)
    script_chars = serializers.IntegerField(allow_null=True)
    duration_s = serializers.FloatField(allow_null=True)
    billed_seconds = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()
    performer_amount = serializers.IntegerField(allow_null=True)
    union_amount = serializers.IntegerField(allow_null=True)
    fee_amount = serializers.IntegerField(allow_null=True)
    total = serializers.IntegerField(allow_null=True)
    transaction = serializers.CharField(allow_null=True)


class StatementCurrencyOutSerializer(serializers.Serializer):
    """Sums of money as in ``BalanceOutSerializer``: numbers up to ±(2^53 − 1), and ``_exact`` strings.
    ``closing_balance = opening_balance + royalties + revenue_share + reversals + payouts +
    payments_received + other``."""

    currency = serializers.CharField()
    opening_balance = JsonSafeIntegerField()
    opening_balance_exact = ExactIntegerField(source="opening_balance")
    royalties = JsonSafeIntegerField()
    royalties_exact = ExactIntegerField(source="royalties")
    revenue_share = JsonSafeIntegerField()
    revenue_share_exact = ExactIntegerField(source="revenue_share")
    reversals = JsonSafeIntegerField()
    reversals_exact = ExactIntegerField(source="reversals")
    payouts = JsonSafeIntegerField()
    payouts_exact = ExactIntegerField(source="payouts")
    payments_received = JsonSafeIntegerField(help_text="A brand's settled invoices (negative: it owes less)")
    payments_received_exact = ExactIntegerField(source="payments_received")
    other = JsonSafeIntegerField()
    other_exact = ExactIntegerField(source="other")
    renders = serializers.IntegerField()
    closing_balance = JsonSafeIntegerField()
    closing_balance_exact = ExactIntegerField(source="closing_balance")


class StatementContractOutSerializer(serializers.Serializer):
    contract = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
    renders = serializers.IntegerField()
    billed_seconds = serializers.IntegerField()
    amount = JsonSafeIntegerField()
    amount_exact = ExactIntegerField(source="amount")


class StatementLineOutSerializer(serializers.Serializer):
    """One posting on the party's account (``ledger.statements.LINE_COLUMNS``)."""

    transaction = serializers.CharField()
    created_at = serializers.CharField(help_text="The ledger's own timestamp format (microseconds)")
    kind = serializers.CharField(help_text="royalty, revenue_share, reversal, payout, adjustment, settlement, ...")
    label = serializers.CharField(help_text="The kind in words (settlement: \"payments received\")")
    bucket = serializers.CharField(help_text="Which total of the currency the line adds to")
    contract = serializers.CharField(allow_null=True)
    brand = serializers.CharField(allow_null=True, help_text="The contract's brand, by name")
    performer = serializers.CharField(allow_null=True, help_text="The contract's performer, by name")
    platform = serializers.CharField(allow_null=True)
    language = serializers.CharField(allow_null=True)
    script_excerpt = serializers.CharField(allow_null=True, help_text="First 80 characters of the script; "
                                           "\"\" for uses recorded before excerpts; null for no use")
    seconds = serializers.IntegerField(allow_null=True, help_text="Billed seconds (negative on a reversal)")
    payout = serializers.CharField(allow_null=True, help_text="po_… of a payout step")
    payout_step = serializers.CharField(allow_null=True, help_text="reserve | paid | returned")
    reverses = serializers.CharField(allow_null=True)
    reference = serializers.CharField()
    currency = serializers.CharField()
    amount = JsonSafeIntegerField(help_text="Signed: how much the account's balance grows")
    amount_exact = ExactIntegerField(source="amount")


class StatementOutSerializer(serializers.Serializer):
    """``ledger.statements.statement_build``: one party's month, per currency and contract."""

    party = serializers.CharField()
    party_kind = serializers.CharField()
    party_name = serializers.CharField()
    performer = serializers.CharField(allow_null=True, help_text="The party's id when it is a performer")
    account_purpose = serializers.CharField(help_text="payable | pension_health | receivable")
    month = serializers.CharField(help_text="YYYY-MM")
    period_start = serializers.CharField()
    period_end = serializers.CharField()
    currencies = StatementCurrencyOutSerializer(many=True)
    contracts = StatementContractOutSerializer(many=True)
    lines = StatementLineOutSerializer(many=True)
    line_count = serializers.IntegerField(help_text="Lines in the month (all of them are in the CSV)")
    truncated = serializers.BooleanField(help_text="More lines than the statement lists (totals count all)")


__all__ = [
    "BalanceQuerySerializer", "BalancesOutSerializer", "ConsistencyProofOutSerializer", "ConsistencyQuerySerializer",
    "InclusionProofOutSerializer", "InclusionQuerySerializer", "SaleCreateInSerializer",
    "SaleOutSerializer", "StatementOutSerializer", "StatementQuerySerializer", "TransactionListQuerySerializer",
    "TransactionOutSerializer", "TreeHeadOutSerializer", "UsageQuerySerializer", "UsageRowOutSerializer",
]
