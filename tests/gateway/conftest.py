import pytest

from tests.factories import make_contract


@pytest.fixture
def contract(cast):
    return make_contract(cast.brand, cast.performer)


@pytest.fixture
def gen_body(contract):
    def make(**overrides):
        body = {"contract": contract.id, "script": "Crack open an ice-cold Fizzly and taste the summer.",
                "platform": "tiktok", "category": "soft_drinks", "language": "en", "territory": "US"}
        body.update(overrides)
        return body

    return make
