"""The operator CLI: create_party, revoke_key, demo_world."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from rights.auth import key_lookup
from rights.models import ApiKey, Party


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["brand", "union"])
def test_create_party_prints_one_json_object(kind):
    out = json.loads(run("create_party", kind, "Acme Cola", "--json"))
    assert set(out) == {"id", "kind", "name", "api_key"}
    assert out["kind"] == kind and out["name"] == "Acme Cola"
    assert key_lookup(out["api_key"]).party_id == out["id"]


@pytest.mark.django_db
def test_create_performer_with_portrait_and_union(tmp_path, astronaut_jpeg):
    union = json.loads(run("create_party", "union", "Guild", "--json"))
    face = tmp_path / "face.jpg"
    face.write_bytes(astronaut_jpeg)
    out = json.loads(run("create_party", "performer", "Ava Stone", "--portrait", str(face),
                         "--union", union["id"], "--voice", "en", "--json"))
    performer = Party.objects.get(id=out["id"])
    assert performer.union_id == union["id"] and performer.voice == "en"
    assert len(performer.portrait_sha256) == 64 and performer.landmarks


@pytest.mark.django_db
@pytest.mark.parametrize("args,message", [
    (["performer", "No Face"], "portrait"),
    (["performer", "X", "--portrait", "/nonexistent.jpg"], "no such file"),
    (["performer", "X", "--portrait", "{png}", "--union", "pty_nope"], "no union"),
    (["brand", "  "], "name"),
    (["brand", "X" * 201], "name"),
    (["brand", "X", "--union", "{union}"], "union"),
    (["performer", "X", "--portrait", "{noise}"], "face"),
    (["performer", "X", "--portrait", "{text}"], "image"),
    (["brand", "X", "--voice", "klingon"], "voice"),
    (["union", "U", "--pension-health-bps", "20000"], "pension_health_bps"),
])
def test_create_party_bad_input_writes_nothing(tmp_path, args, message):
    import numpy as np
    from PIL import Image

    union = Party.objects.create(kind="union", name="G")
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(noise)
    text = tmp_path / "notes.jpg"
    text.write_text("definitely not a jpeg")
    args = [a.format(png=noise, union=union.id, noise=noise, text=text) for a in args]
    before = (Party.objects.count(), ApiKey.objects.count())
    with pytest.raises(CommandError) as exc:
        run("create_party", *args)
    assert message in str(exc.value).lower()
    assert (Party.objects.count(), ApiKey.objects.count()) == before


@pytest.mark.django_db
def test_revoke_key_by_prefix():
    out = json.loads(run("create_party", "brand", "B", "--json"))
    prefix = out["api_key"].split(".")[0]
    assert "revoked" in run("revoke_key", prefix)
    assert key_lookup(out["api_key"]) is None
    assert "already revoked" in run("revoke_key", prefix)
    with pytest.raises(CommandError):
        run("revoke_key", "dpl_nothere")


@pytest.mark.django_db
def test_demo_world_is_idempotent():
    first = json.loads(run("demo_world", "--json"))
    second = json.loads(run("demo_world", "--json"))
    assert first == second
    performer = Party.objects.get(id=first["performer"]["id"])
    assert performer.union_id == first["union"]["id"] and performer.landmarks
    from rights.models import Contract

    contract = Contract.objects.get(id=first["contract"])
    assert contract.status == "active" and contract.consents.count() == 1
    assert Party.objects.filter(kind="brand").count() == 2
