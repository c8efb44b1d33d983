"""The brand's pages (issue 12 item 3): contracts and spend, proposing a contract,
making a clip and watching it, API keys and webhook endpoints."""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gateway import services as gateway_services
from gateway import transitions
from gateway.inputs import GenerationInput
from gateway.models import Generation, GenerationStatus, WebhookDelivery, WebhookEndpoint
from rights.models import ApiKey, Contract
from tests.web.conftest import make_person, signed_in

pytestmark = pytest.mark.django_db

SCRIPT = "Crack open an ice-cold Fizzly and taste the summer."


@pytest.fixture
def brand_client(cast):
    return signed_in(make_person(cast.brand))


@pytest.fixture
def other_brand_client(cast):
    return signed_in(make_person(cast.other_brand))


def request_generation(brand, contract, **overrides) -> Generation:
    fields = dict(contract_id=contract.id, script=SCRIPT, platform="tiktok", category="soft_drinks", language="en",
                  territory="US", profile="vertical_720x1280", captions=True)
    fields.update(overrides)
    outcome = gateway_services.generation_request(brand=brand, idempotency_key=str(uuid.uuid4()),
                                                  fingerprint="f", data=GenerationInput(**fields))
    return Generation.objects.get(id=outcome.generation_id)


def deliver(gen: Generation, data_dir) -> Generation:
    """Render-free delivery: claim, store a file under the assets folder, deliver (charges the ledger)."""
    now = timezone.now()
    claimed = transitions.generation_claim(generation_id=gen.id, worker="test:1", lease_s=600, now=now)
    name = f"{gen.id}.mp4"
    (data_dir / "assets").mkdir(parents=True, exist_ok=True)
    (data_dir / "assets" / name).write_bytes(b"\x00\x00\x00\x18ftypmp42fake-mp4-bytes")
    transitions.generation_deliver(generation_id=gen.id, token=claimed.attempts, asset_path=name, sha256="ab" * 32,
                                   size=30, duration_s=3.0, frames=75, timings={}, now=now)
    gen.refresh_from_db()
    assert gen.status == GenerationStatus.DELIVERED
    return gen


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


# --- who may open the pages -------------------------------------------------------------------


PAGES = ["/app/brand/", "/app/brand/contracts/new/", "/app/brand/generations/", "/app/brand/generations/new/",
         "/app/brand/keys/", "/app/brand/webhooks/"]


@pytest.mark.parametrize("url", PAGES)
def test_pages_open_for_the_brand_only(cast, brand_client, url):
    assert brand_client.get(url).status_code == 200
    assert signed_in(make_person(cast.performer)).get(url).status_code == 403
    from django.test import Client

    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_app_redirects_a_brand_member_to_the_brand_home(brand_client):
    assert brand_client.get("/app/")["Location"] == "/app/brand/"


# --- home: contracts, spend, billing --------------------------------------------------------------


def test_home_shows_contracts_with_status_quota_spend_and_a_chart(cast, brand_client, data_dir):
    gen = deliver(request_generation(cast.brand, cast.contract), data_dir)
    request_generation(cast.brand, cast.contract)  # one more in flight: held quota
    html = brand_client.get("/app/brand/").content.decode()
    assert cast.performer.name in html and f"/app/brand/contracts/{cast.contract.id}/" in html
    assert "98 of 100" in html  # one delivered, one held
    total = gen.ledger_transaction.meta["total"]
    assert f"${total / 100:,.2f}" in html  # money with the currency's decimals
    assert "<svg" in html and "Spend per month (USD)" in html and timezone.now().strftime("%Y-%m") in html
    assert "Unpaid" in html  # the billing state: the receivable per currency
    assert cast.other_brand.name not in html


def test_contract_detail_is_404_for_another_brand(cast, brand_client, other_brand_client):
    page = brand_client.get(f"/app/brand/contracts/{cast.contract.id}/")
    assert page.status_code == 200 and b"Renders left" in page.content and b"$5.00" in page.content
    assert other_brand_client.get(f"/app/brand/contracts/{cast.contract.id}/").status_code == 404
    assert brand_client.get("/app/brand/contracts/ctr_nope/").status_code == 404


# --- proposing a contract ---------------------------------------------------------------------------


def contract_form(cast, **overrides) -> dict:
    today = timezone.now().date()
    body = {"performer": cast.other_performer.id, "platforms": ["tiktok", "youtube"], "languages": "en, fr",
            "territories": "us, CA", "banned_categories": ["gambling"], "currency": "USD", "per_render": "5.25",
            "per_second": "0.1", "revenue_share": "12.5", "max_renders": "50", "valid_from": today.isoformat(),
            "valid_until": today.replace(year=today.year + 1).isoformat(), "notice_days": "30"}
    body.update(overrides)
    return body


def test_proposing_a_contract_converts_major_units_and_calls_the_service(cast, brand_client):
    response = brand_client.post("/app/brand/contracts/new/", contract_form(cast, requires_approval="on"))
    assert response.status_code == 302
    contract = Contract.objects.get(brand=cast.brand, performer=cast.other_performer)
    assert response["Location"] == f"/app/brand/contracts/{contract.id}/"
    assert (contract.royalty_per_render, contract.royalty_per_second, contract.revenue_share_bps) == (525, 10, 1250)
    assert contract.languages == ["en", "fr"] and contract.territories == ["CA", "US"]
    assert contract.status == "proposed" and contract.requires_approval and contract.events.count() == 1
    page = brand_client.get(response["Location"]).content.decode()
    assert "$5.25" in page and "12.5%" in page


def test_a_zero_decimal_currency_takes_whole_units(cast, brand_client):
    assert brand_client.post("/app/brand/contracts/new/",
                             contract_form(cast, currency="JPY", per_render="500", per_second="0")).status_code == 302
    assert Contract.objects.get(brand=cast.brand, performer=cast.other_performer).royalty_per_render == 500


def _error_after(html: str, field: str) -> str:
    """The error paragraph rendered next to ``field`` (its id is id_<field>_error)."""
    match = re.search(rf'<p class="error" id="id_{field}_error">([^<]*)</p>', html)
    assert match, f"no error next to {field}"
    return match.group(1)


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"currency": "JPY", "per_render": "5.5"}, "per_render", "JPY has 0 decimals"),
    ({"per_render": "0.001"}, "per_render", "USD has 2 decimals"),
    ({"languages": "en, zz"}, "languages", "Unknown languages"),
    ({"territories": "US, XX"}, "territories", "Unknown territories"),
    ({"valid_until": "2020-01-01"}, "valid_until", "Must be after valid_from"),
    ({"max_renders": "0"}, "max_renders", "greater than or equal to 1"),
    ({"platforms": []}, "platforms", "required"),
    ({"performer": "pty_forged"}, "performer", "Select a valid choice"),
    ({"revenue_share": "101"}, "revenue_share", "less than or equal to 100"),
])
def test_bad_terms_are_shown_next_to_their_field_and_nothing_is_created(cast, brand_client, overrides, field,
                                                                          words):
    before = Contract.objects.count()
    response = brand_client.post("/app/brand/contracts/new/", contract_form(cast, **overrides))
    assert response.status_code == 400
    assert words in _error_after(response.content.decode(), field)
    assert Contract.objects.count() == before


def test_a_contract_that_pays_nothing_is_refused_in_words(cast, brand_client):
    response = brand_client.post("/app/brand/contracts/new/",
                                 contract_form(cast, per_render="0", per_second="0", revenue_share="0"))
    assert response.status_code == 400 and b"A contract must pay the performer" in response.content
    assert not Contract.objects.filter(performer=cast.other_performer).exists()


# --- generations -----------------------------------------------------------------------------------


def generation_form(client, contract, **overrides) -> dict:
    page = client.get("/app/brand/generations/new/").content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    body = {"contract": contract.id, "platform": "tiktok", "category": "soft_drinks", "language": "en",
            "territory": "US", "script": SCRIPT, "captions": "on", "idempotency_key": key}
    body.update(overrides)
    return body


def test_each_form_gets_its_own_idempotency_key(cast, brand_client):
    assert generation_form(brand_client, cast.contract)["idempotency_key"] != \
        generation_form(brand_client, cast.contract)["idempotency_key"]


def test_a_generation_from_the_form_and_a_double_submit_replays(cast, brand_client):
    body = generation_form(brand_client, cast.contract)
    first = brand_client.post("/app/brand/generations/new/", body)
    assert first.status_code == 302
    gen = Generation.objects.get(brand=cast.brand)
    assert first["Location"] == f"/app/brand/generations/{gen.id}/"
    assert gen.status == GenerationStatus.QUEUED and gen.script == SCRIPT and gen.profile
    second = brand_client.post("/app/brand/generations/new/", body)  # the same form sent twice
    assert second["Location"] == first["Location"] and Generation.objects.count() == 1
    cast.contract.refresh_from_db()
    assert cast.contract.renders_held == 1
    page = brand_client.get(second["Location"]).content.decode()
    assert "already sent" in page
    # Live progress: the poll target, a <progress>, a [data-status] and a refresh link for JS off.
    assert f'data-poll-url="/app/brand/generations/{gen.id}/status.json"' in page
    assert "<progress" in page and "data-status" in page and ">Refresh</a>" in page


def test_a_suspended_contract_is_offered_and_its_request_denied_with_the_rule(cast, brand_client):
    from rights import services as rights_services

    rights_services.contract_transition(contract_id=cast.contract.id, action="suspend", actor=cast.performer)
    page = brand_client.get("/app/brand/generations/new/").content.decode()
    assert f"{cast.contract.id} (suspended)" in page
    response = brand_client.post("/app/brand/generations/new/", generation_form(brand_client, cast.contract))
    gen = Generation.objects.get(brand=cast.brand)
    assert gen.status == GenerationStatus.DENIED and response["Location"] == f"/app/brand/generations/{gen.id}/"
    page = brand_client.get(response["Location"]).content.decode()
    assert "Contract not active" in page and "The contract is suspended, not active." in page
    cast.contract.refresh_from_db()
    assert cast.contract.renders_held == 0


def test_the_same_key_with_other_values_is_refused_not_doubled(cast, brand_client):
    body = generation_form(brand_client, cast.contract)
    brand_client.post("/app/brand/generations/new/", body)
    other = brand_client.post("/app/brand/generations/new/", {**body, "script": "Something else entirely."})
    assert other.status_code == 400 and b"already sent with other values" in other.content
    assert Generation.objects.count() == 1


def test_status_json_reports_progress(cast, brand_client):
    gen = request_generation(cast.brand, cast.contract)
    Generation.objects.filter(id=gen.id).update(status=GenerationStatus.RENDERING, progress=0.4)
    body = brand_client.get(f"/app/brand/generations/{gen.id}/status.json").json()
    assert body == {"status": "rendering", "status_text": "Rendering.", "progress": 0.4, "done": False}


def test_a_denial_shows_the_reasons_in_words(cast, brand_client):
    response = brand_client.post("/app/brand/generations/new/",
                                 generation_form(brand_client, cast.contract, platform="snapchat",
                                                 category="gambling"))
    gen = Generation.objects.get(brand=cast.brand)
    assert gen.status == GenerationStatus.DENIED and response["Location"] == f"/app/brand/generations/{gen.id}/"
    page = brand_client.get(response["Location"]).content.decode()
    assert "Why it was refused" in page and "Platform not allowed" in page and "Category banned" in page
    assert "data-poll-url" not in page  # done: nothing to poll (app.js would reload for ever)
    assert brand_client.get(f"/app/brand/generations/{gen.id}/status.json").json()["done"] is True


def test_bad_generation_input_is_shown_next_to_the_field(cast, brand_client):
    response = brand_client.post("/app/brand/generations/new/",
                                 generation_form(brand_client, cast.contract, territory="X1", script="\x07beep"))
    html = response.content.decode()
    assert response.status_code == 400
    assert "ISO 3166-1" in _error_after(html, "territory") and "Control characters" in _error_after(html, "script")
    assert not Generation.objects.exists()


def test_another_brands_contract_cannot_be_chosen(cast, other_brand_client):
    client = other_brand_client
    response = client.post("/app/brand/generations/new/", generation_form(client, cast.contract))
    assert response.status_code == 400 and "Select a valid choice" in _error_after(response.content.decode(),
                                                                                    "contract")
    assert not Generation.objects.exists()


def test_a_delivered_clip_plays_and_downloads(cast, brand_client, data_dir):
    gen = deliver(request_generation(cast.brand, cast.contract), data_dir)
    page = brand_client.get(f"/app/brand/generations/{gen.id}/").content.decode()
    assert f'<video controls preload="metadata" src="/app/brand/generations/{gen.id}/video.mp4"' in page
    assert f'href="/app/brand/generations/{gen.id}/video.mp4?download=1" download' in page
    assert "data-poll-url" not in page
    video = brand_client.get(f"/app/brand/generations/{gen.id}/video.mp4")
    assert video.status_code == 200 and video["Content-Type"] == "video/mp4"
    assert b"".join(video.streaming_content).endswith(b"fake-mp4-bytes")
    download = brand_client.get(f"/app/brand/generations/{gen.id}/video.mp4?download=1")
    assert download["Content-Disposition"].startswith("attachment")


def test_another_brand_gets_404_on_the_generation_its_status_and_its_video(cast, other_brand_client, data_dir):
    gen = deliver(request_generation(cast.brand, cast.contract), data_dir)
    for suffix in ("", "status.json", "video.mp4"):
        assert other_brand_client.get(f"/app/brand/generations/{gen.id}/{suffix}").status_code == 404
    assert other_brand_client.post(f"/app/brand/generations/{gen.id}/cancel/").status_code == 404


def test_the_brand_cancels_a_queued_generation(cast, brand_client):
    gen = request_generation(cast.brand, cast.contract)
    response = brand_client.post(f"/app/brand/generations/{gen.id}/cancel/")
    gen.refresh_from_db()
    assert response.status_code == 302 and gen.status == GenerationStatus.CANCELLED
    again = brand_client.post(f"/app/brand/generations/{gen.id}/cancel/", follow=True)
    assert b"Cannot cancel a generation that is cancelled" in again.content


@pytest.mark.parametrize("url", ["/app/brand/", "/app/brand/generations/"])
def test_query_counts_do_not_grow_with_generations(cast, brand_client, data_dir, url):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert brand_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    for _ in range(2):
        deliver(request_generation(cast.brand, cast.contract), data_dir)
    few = count()
    for _ in range(28):
        request_generation(cast.brand, cast.contract)
    assert count() == few


def test_a_few_hundred_contracts_cost_no_more_queries(cast, brand_client):
    from tests.factories import make_contract

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert brand_client.get("/app/brand/").status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for _ in range(200):
        make_contract(cast.brand, cast.other_performer, accept=False)
    assert count() == few


# --- API keys ------------------------------------------------------------------------------------


def test_a_new_key_is_shown_once(cast, brand_client):
    response = brand_client.post("/app/brand/keys/", {"name": "CI"})
    html = response.content.decode()
    raw = re.search(r'id="new-key" type="text" readonly value="([^"]+)"', html).group(1)
    assert response["Cache-Control"] == "no-store" and html.count(raw) == 1
    key = ApiKey.objects.get(party=cast.brand, name="CI")
    assert raw.startswith(key.prefix)
    assert raw not in brand_client.get("/app/brand/keys/").content.decode()  # never again


def test_revoking_a_key_and_another_partys_key_is_404(cast, brand_client, other_brand_client):
    key = ApiKey.objects.filter(party=cast.brand).first()
    assert other_brand_client.post(f"/app/brand/keys/{key.id}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert brand_client.get(f"/app/brand/keys/{key.id}/revoke/").status_code == 405  # POST only
    assert brand_client.post(f"/app/brand/keys/{key.id}/revoke/").status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_too_long_key_name_is_refused_next_to_the_field(cast, brand_client):
    before = ApiKey.objects.count()
    response = brand_client.post("/app/brand/keys/", {"name": "x" * 101})
    assert response.status_code == 400 and "at most 100" in _error_after(response.content.decode(), "name")
    assert ApiKey.objects.count() == before


# --- webhooks ---------------------------------------------------------------------------------------


def test_webhook_endpoints_create_show_the_secret_once_and_delete(cast, brand_client, other_brand_client):
    response = brand_client.post("/app/brand/webhooks/", {"url": "https://93.184.215.14/hooks",
                                                          "events": ["generation.delivered"]})
    html = response.content.decode()
    endpoint = WebhookEndpoint.objects.get(brand=cast.brand)
    assert response.status_code == 200 and endpoint.events == ["generation.delivered"]
    assert f'value="{endpoint.secret}"' in html and response["Cache-Control"] == "no-store"
    assert endpoint.secret not in brand_client.get("/app/brand/webhooks/").content.decode()
    assert other_brand_client.post(f"/app/brand/webhooks/{endpoint.id}/delete/").status_code == 404
    assert brand_client.post(f"/app/brand/webhooks/{endpoint.id}/delete/").status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.active


@pytest.mark.parametrize(("url", "words"), [("http://127.0.0.1/x", "not globally routable"),
                                            ("ftp://example.org/x", "http(s) URL"),
                                            ("https://user:pw@93.184.215.14/x", "Credentials")])
def test_a_webhook_url_we_may_not_reach_is_refused_next_to_the_field(cast, brand_client, settings, url, words):
    settings.DOPPEL_WEBHOOK_ALLOW_PRIVATE = False
    response = brand_client.post("/app/brand/webhooks/", {"url": url})
    assert response.status_code == 400 and words in _error_after(response.content.decode(), "url")
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_lists_this_brands_deliveries_only(cast, brand_client):
    mine = WebhookEndpoint.objects.create(brand=cast.brand, url="https://93.184.215.14/a", secret="whsec_a")
    theirs = WebhookEndpoint.objects.create(brand=cast.other_brand, url="https://93.184.215.14/theirs",
                                            secret="whsec_b")
    gen = request_generation(cast.brand, cast.contract, platform="snapchat")  # denied: an event
    WebhookDelivery.objects.filter(endpoint=mine).update(last_status_code=500, last_error="http_error", attempts=1)
    WebhookDelivery.objects.create(endpoint=theirs, event="generation.denied", payload={})
    html = brand_client.get("/app/brand/webhooks/").content.decode()
    assert "generation.denied" in html and gen.id in html and "HTTP 500" in html
    assert "/theirs" not in html
