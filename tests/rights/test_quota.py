"""rights.quota: the contract's quota counters, moved only by conditional UPDATEs."""

import pytest
from django.db import IntegrityError, connection, transaction

from rights.models import Contract, PartyKind
from rights.quota import (
    contract_quota_consume,
    contract_quota_release,
    contract_quota_reserve,
    quota_consume_statement,
)
from tests.factories import make_contract, make_party


@pytest.fixture
def contract(db):
    performer, _ = make_party(PartyKind.PERFORMER)
    brand, _ = make_party(PartyKind.BRAND)
    return make_contract(brand, performer, max_renders=2)


def counters(contract: Contract) -> tuple[int, int]:
    contract.refresh_from_db()
    return contract.renders_held, contract.renders_used


def test_reserving_beyond_the_quota_is_refused(contract):
    assert contract_quota_reserve(contract_id=contract.id)
    assert contract_quota_reserve(contract_id=contract.id)
    assert not contract_quota_reserve(contract_id=contract.id)
    assert counters(contract) == (2, 0)
    assert contract_quota_consume(contract_id=contract.id)
    assert not contract_quota_reserve(contract_id=contract.id)  # used + held still = max
    assert counters(contract) == (1, 1)
    assert not contract_quota_reserve(contract_id="ctr_nope")


def test_release_and_consume_never_go_negative(contract):
    assert not contract_quota_release(contract_id=contract.id)
    assert not contract_quota_consume(contract_id=contract.id)
    assert counters(contract) == (0, 0)
    assert contract_quota_reserve(contract_id=contract.id)
    assert contract_quota_release(contract_id=contract.id)
    assert not contract_quota_release(contract_id=contract.id)
    assert contract_quota_reserve(contract_id=contract.id)
    assert contract_quota_consume(contract_id=contract.id)
    assert not contract_quota_consume(contract_id=contract.id)
    assert counters(contract) == (0, 1)


def test_the_consume_statement_is_the_same_rule_for_a_caller_s_pipeline(contract):
    sql, params = quota_consume_statement(contract.id)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.rowcount == 0  # nothing held
        contract_quota_reserve(contract_id=contract.id)
        cursor.execute(sql, params)
        assert cursor.rowcount == 1
    assert counters(contract) == (0, 1)


def test_the_database_check_is_the_backstop(contract):
    with pytest.raises(IntegrityError), transaction.atomic():
        Contract.objects.filter(pk=contract.pk).update(renders_held=3)
