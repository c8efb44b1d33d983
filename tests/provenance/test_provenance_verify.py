"""The verify service and `manage.py verify`: every input the issue lists, good and bad."""

from __future__ import annotations

import json
import os
import struct
from io import StringIO

import cv2
import pytest
from django.core.management import CommandError, call_command

from provenance import c2pa_io, media, verify
from provenance import watermark as wm
from tests.provenance import synthetic
from tests.provenance.conftest import LICENSE


@pytest.fixture
def generations(vertical, small):
    """What the gateway's lookup would return: payload → generation summary."""
    table = {
        vertical.payload: {
            "id": "gen_0001",
            "contract": "ctr_0001",
            "performer": "pty_performer_ava",
            "brand": "pty_brand_acme",
            "status": "delivered",
        },
        small.payload: {
            "id": "gen_0002",
            "contract": "ctr_0001",
            "performer": "pty_performer_ava",
            "brand": "pty_brand_acme",
            "status": "delivered",
        },
    }
    calls = []

    def resolve(payload: int):
        calls.append(payload)
        return table.get(payload)

    resolve.calls = calls
    return resolve


@pytest.fixture
def resolver_registry():
    """Register a lookup for one test (the gateway registers its own in AppConfig.ready)."""
    previous = verify.registered_payload_resolver()
    yield verify.register_payload_resolver
    verify.register_payload_resolver(previous)


@pytest.fixture(scope="module")
def stripped(signed_vertical):
    return synthetic.reencode(signed_vertical, crf=30)


def test_signed_delivery_verifies_end_to_end(signed_vertical, vertical, generations):
    report = verify.verify_file(
        data=signed_vertical, filename="clip.mp4", resolve_payload=generations
    )
    assert report["media"] == {
        "mime": "video/mp4",
        "kind": "video",
        "bytes": len(signed_vertical),
        "filename": "clip.mp4",
        "declared_mime": None,
    }
    c2pa = report["c2pa"]
    assert c2pa["state"] == "Trusted" and c2pa["failures"] == [] and c2pa["ours"] is True
    assert c2pa["license"] == {"version": 1, **LICENSE}
    mark = report["watermark"]
    assert mark["found"] and mark["identified"] and mark["generation"] == "gen_0001"
    assert mark["matches_manifest"] is True and mark["confidence"] > 0.9
    assert report["generation"] == {
        "id": "gen_0001",
        "contract": "ctr_0001",
        "performer": "pty_performer_ava",
        "brand": "pty_brand_acme",
        "status": "delivered",
        "identified_by": "watermark",
    }
    assert generations.calls == [vertical.payload]
    assert "signed by Doppel (Trusted)" in report["summary"]
    json.dumps(report)  # the API can serialise it as is


def test_a_stripped_reupload_is_still_identified(stripped, generations):
    report = verify.verify_file(data=stripped, resolve_payload=generations)
    assert report["c2pa"]["state"] == "NoManifest" and report["c2pa"]["license"] is None
    assert report["watermark"]["found"] and report["watermark"]["generation"] == "gen_0001"
    assert report["generation"]["identified_by"] == "watermark"
    assert report["watermark"]["matches_manifest"] is None


def test_a_payload_that_is_no_generation_identifies_nothing(stripped, resolver_registry):
    report = verify.verify_file(data=stripped, resolve_payload=lambda payload: None)
    assert report["watermark"]["found"] is True
    assert report["watermark"]["identified"] is False and report["watermark"]["generation"] is None
    assert report["generation"] is None
    assert "no matching generation" in report["summary"]
    resolver_registry(None)
    no_lookup = verify.verify_file(data=stripped)
    assert no_lookup["generation"] is None and no_lookup["watermark"]["identified"] is False


def test_trusted_manifest_identifies_the_generation_without_the_watermark(small, generations):
    unmarked = synthetic.encode_video(small.frames, crf=20)
    signed = _sign_unmarked(unmarked, payload=small.payload)
    report = verify.verify_file(data=signed, resolve_payload=generations)
    assert report["c2pa"]["state"] == "Trusted"
    assert report["watermark"]["found"] is False
    assert (
        report["generation"]["id"] == "gen_0002"
        and report["generation"]["identified_by"] == "manifest"
    )


def _sign_unmarked(data: bytes, *, payload: int) -> bytes:
    return c2pa_io.sign_video(
        data=data, mime="video/mp4", license=LICENSE, watermark={"payload": payload}
    )


def test_random_bytes_and_empty_files_are_unsupported():
    for data in (os.urandom(4096), b"", b"GIF89a" + os.urandom(100), b"%PDF-1.7\n"):
        with pytest.raises(media.UnsupportedMedia) as info:
            verify.verify_file(data=data, filename="clip.mp4", mime="video/mp4")
        assert info.value.code == "unsupported_media"


def test_the_declared_type_is_ignored_in_favour_of_the_bytes(signed_vertical):
    report = verify.verify_file(data=signed_vertical, filename="photo.png", mime="image/png")
    assert (
        report["media"]["mime"] == "video/mp4" and report["media"]["declared_mime"] == "image/png"
    )
    assert report["c2pa"]["state"] == "Trusted"


def test_a_huge_file_is_refused_before_any_work(settings, signed_vertical):
    settings.DOPPEL_VERIFY_MAX_BYTES = 4096
    with pytest.raises(verify.MediaTooLarge) as info:
        verify.verify_file(data=signed_vertical)
    assert info.value.code == "payload_too_large" and "4096" in info.value.message


def test_truncated_video_reports_the_damage(signed_vertical):
    half = signed_vertical[: len(signed_vertical) // 2]
    report = verify.verify_file(data=half)
    # The manifest sits at the front and still reads, but the hash no longer matches.
    assert report["c2pa"]["state"] == "Invalid"
    assert "assertion.bmffHash.mismatch" in {f["code"] for f in report["c2pa"]["failures"]}
    # The moov box was at the end: nothing decodes, and the report says so.
    assert (
        report["watermark"]["found"] is False and "cannot be opened" in report["watermark"]["error"]
    )


def test_truncated_unsigned_video_and_image_are_unreadable(small, vertical):
    with pytest.raises(media.UnreadableMedia) as info:
        verify.verify_file(data=small.mp4[: len(small.mp4) // 3])
    assert info.value.code == "unreadable_media"
    with pytest.raises(media.UnreadableMedia):
        verify.verify_file(data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)


def test_truncated_jpeg_still_yields_what_it_can(vertical):
    ok, jpeg = cv2.imencode(
        ".jpg", cv2.cvtColor(vertical.marked[3], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    cut = jpeg.tobytes()[: int(len(jpeg) * 0.8)]
    report = verify.verify_file(data=cut)  # libjpeg fills the missing rows with grey
    assert report["media"]["mime"] == "image/jpeg" and report["c2pa"]["state"] == "NoManifest"
    assert report["watermark"]["found"] and wm.detect_image(data=cut).payload == vertical.payload


def test_foreign_ca_with_a_forged_doppel_licence_is_not_presented_as_ours(small):
    foreign = synthetic.foreign_signer()
    manifest = {
        "claim_generator_info": [{"name": "Doppel"}],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": c2pa_io.TRAINED_ALGORITHMIC_MEDIA,
                        }
                    ]
                },
            },
            {"label": "com.doppel.license", "data": {"version": 1, **LICENSE}},
        ],
    }
    signed = synthetic.sign_with(foreign, data=small.mp4, mime="video/mp4", manifest=manifest)
    report = verify.verify_file(data=signed)
    c2pa = report["c2pa"]
    assert c2pa["state"] == "Valid" and c2pa["ours"] is False and c2pa["license"] is None
    codes = {f["code"] for f in c2pa["failures"]}
    assert {"signingCredential.untrusted", "doppel.license.untrusted"} <= codes
    assert "another signer" in report["summary"]


def test_tampered_file_is_invalid_but_the_watermark_still_speaks(signed_vertical, generations):
    data = bytearray(signed_vertical)
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"mdat":
            break
        offset += size
    data[offset + 1000] ^= 0x80
    report = verify.verify_file(data=bytes(data), resolve_payload=generations)
    assert report["c2pa"]["state"] == "Invalid"
    assert "assertion.bmffHash.mismatch" in {f["code"] for f in report["c2pa"]["failures"]}
    assert report["watermark"]["generation"] == "gen_0001"


def test_two_manifest_stores_are_reported(signed_vertical):
    offset = 0
    while True:
        size, kind = struct.unpack(">I4s", signed_vertical[offset : offset + 8])
        if kind == b"uuid":
            break
        offset += size
    doubled = (
        signed_vertical[: offset + size]
        + signed_vertical[offset : offset + size]
        + signed_vertical[offset + size :]
    )
    report = verify.verify_file(data=doubled)
    assert report["c2pa"]["state"] == "Invalid"
    assert report["c2pa"]["failures"][0]["code"] == "manifest.multipleStores"
    assert report["c2pa"]["license"] is None and report["generation"] is None


@pytest.mark.slow
def test_webm_and_mov_and_frame_grabs(signed_vertical, vertical, generations):
    webm = synthetic.to_webm(signed_vertical)
    report = verify.verify_file(data=webm, resolve_payload=generations)
    assert report["media"]["mime"] == "video/webm"
    assert "does not define" in report["c2pa"]["error"]
    assert (
        report["c2pa"]["state"] == "NoManifest" and report["watermark"]["generation"] == "gen_0001"
    )

    mkv = synthetic.remux(signed_vertical, container="matroska")
    assert verify.verify_file(data=mkv)["media"]["mime"] == "video/x-matroska"

    mov = synthetic.remux(signed_vertical, container="mov")
    assert media.sniff(mov).mime in ("video/quicktime", "video/mp4")
    assert (
        verify.verify_file(data=mov, resolve_payload=generations)["watermark"]["generation"]
        == "gen_0001"
    )

    for fmt, mime in ((".jpg", "image/jpeg"), (".png", "image/png")):
        grab = synthetic.frame_grab(signed_vertical, fmt=fmt)
        report = verify.verify_file(data=grab, resolve_payload=generations)
        assert report["media"] == {
            "mime": mime,
            "kind": "image",
            "bytes": len(grab),
            "filename": None,
            "declared_mime": None,
        }
        assert report["watermark"]["generation"] == "gen_0001", fmt


def test_sniffing():
    assert media.sniff(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00") == media.MP4
    assert media.sniff(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00") == media.MOV
    assert media.sniff(b"\x00\x00\x00\x08wide\x00\x00\x00\x00") == media.MOV
    assert media.sniff(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm") == media.WEBM
    assert media.sniff(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska") == media.MKV
    assert media.sniff(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84abcd") is None
    assert media.sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF") == media.JPEG
    assert media.sniff(b"\x89PNG\r\n\x1a\n\x00\x00") == media.PNG
    assert media.sniff(b"RIFF\x00\x00\x00\x00WEBP") is None


def test_verify_command_prints_the_same_report(tmp_path, stripped, generations, resolver_registry):
    path = tmp_path / "reupload.mp4"
    path.write_bytes(stripped)
    resolver_registry(generations)
    out = StringIO()
    call_command("verify", str(path), stdout=out)
    printed = json.loads(out.getvalue())
    expected = verify.verify_file(data=stripped, filename="reupload.mp4")
    assert printed == json.loads(json.dumps(expected))
    assert printed["generation"]["id"] == "gen_0001"

    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(1000))
    with pytest.raises(CommandError, match="unsupported_media"):
        call_command("verify", str(junk), stdout=StringIO())
    with pytest.raises(CommandError, match="cannot read"):
        call_command("verify", str(tmp_path / "missing.mp4"), stdout=StringIO())


# --- proof and trace ----------------------------------------------------------------------------


def test_a_trusted_manifest_is_proof_and_a_watermark_alone_is_a_trace(
    signed_vertical, stripped, small, generations
):
    signed = verify.verify_file(data=signed_vertical, resolve_payload=generations)
    assert signed["evidence"] == "proof"
    assert signed["c2pa"]["evidence"] == "proof" and signed["c2pa"]["meaning"].startswith("Proof")
    assert signed["watermark"]["evidence"] == "trace" and signed["watermark"]["orientation"] == "identity"
    assert "Evidence: proof" in signed["summary"]

    reupload = verify.verify_file(data=stripped, resolve_payload=generations)
    assert reupload["evidence"] == "trace" and reupload["c2pa"]["evidence"] == "none"
    assert reupload["watermark"]["evidence"] == "trace"
    assert reupload["watermark"]["meaning"].startswith("Trace, not proof")
    assert "gen_0001" in reupload["watermark"]["meaning"]
    assert "a trace, not proof" in reupload["summary"] and "points to a generation" in reupload["summary"]

    plain = synthetic.encode_video(small.frames, crf=20)
    unmarked = verify.verify_file(data=plain, resolve_payload=generations)
    assert unmarked["evidence"] == "none" and unmarked["watermark"]["evidence"] == "none"
    assert unmarked["summary"].endswith("Evidence: none.")

    unknown = verify.verify_file(data=stripped, resolve_payload=lambda payload: None)
    assert unknown["watermark"]["found"] and unknown["evidence"] == "none"  # names nothing


def test_a_tampered_or_foreign_manifest_is_not_proof(signed_vertical, small, generations):
    data = bytearray(signed_vertical)
    mdat = data.find(b"mdat")
    data[mdat + 1000] ^= 0x80
    tampered = verify.verify_file(data=bytes(data), resolve_payload=generations)
    assert tampered["c2pa"]["state"] == "Invalid" and tampered["c2pa"]["ours"] is True
    assert tampered["c2pa"]["evidence"] == "none" and "Not proof" in tampered["c2pa"]["meaning"]
    assert tampered["evidence"] == "trace"  # the watermark still points to the generation

    foreign = synthetic.sign_with(
        synthetic.foreign_signer(),
        data=small.mp4,
        mime="video/mp4",
        manifest={
            "claim_generator_info": [{"name": "Doppel"}],
            "assertions": [
                {
                    "label": "c2pa.actions",
                    "data": {
                        "actions": [
                            {
                                "action": "c2pa.created",
                                "digitalSourceType": c2pa_io.TRAINED_ALGORITHMIC_MEDIA,
                            }
                        ]
                    },
                },
                {"label": "c2pa.soft-binding", "data": wm.soft_binding(small.payload)},
            ],
        },
    )
    report = verify.verify_file(data=foreign, resolve_payload=generations)
    assert report["c2pa"]["ours"] is False and report["c2pa"]["evidence"] == "none"
    # Its soft binding names gen_0002, but only our own signature could make that proof.
    assert report["evidence"] == "trace" and report["generation"]["identified_by"] == "watermark"


def test_forged_payload_on_an_unrelated_picture_is_not_identified(signed_vertical, generations):
    """Read a delivered clip's payload, stamp it on another picture with another key: no generation."""
    delivered = c2pa_io.read_manifest(data=signed_vertical, mime="video/mp4")
    payload = wm.payload_from_soft_binding(delivered.soft_binding)  # public in the manifest
    assert payload is not None and generations(payload)["id"] == "gen_0001"
    # The forger can read the payload, but not our key: any other key they hold.
    grab = synthetic.decode_video(signed_vertical, max_frames=6)[-1]
    unrelated = synthetic.synthetic_frames("coffee", height=grab.shape[0], width=grab.shape[1],
                                           count=1, seed=9)
    for forger_key in (
        wm.WatermarkKey(id="forger", secret=os.urandom(32)),
        wm.WatermarkKey(id="old-public-constant", secret=b"doppel/watermark/ss1"),
    ):
        forged = wm.embed_frames(unrelated, payload, key=forger_key)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(forged[0], cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, 95])
        report = verify.verify_file(data=jpeg.tobytes(), resolve_payload=generations)
        assert report["watermark"]["found"] is False, forger_key.id
        assert report["watermark"]["generation"] is None and report["generation"] is None
        assert report["evidence"] == "none" and report["watermark"]["confidence"] == 0.0
        # The same forgery is readable under the forger's key: the mark is there, the key is not ours.
        assert wm.detect_image(data=jpeg.tobytes(), keys=[forger_key]).payload == payload
    # The genuine frame still is a trace to the generation.
    ok, genuine = cv2.imencode(".jpg", cv2.cvtColor(grab, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 95])
    report = verify.verify_file(data=genuine.tobytes(), resolve_payload=generations)
    assert report["evidence"] == "trace" and report["watermark"]["generation"] == "gen_0001"


def test_a_trusted_manifest_outweighs_a_watermark_that_names_another_generation(
    small, vertical, generations
):
    # small's frames carry gen_0002's mark, but the signed manifest names gen_0001.
    signed = c2pa_io.sign_video(
        data=small.mp4, mime="video/mp4", license=LICENSE, watermark={"payload": vertical.payload}
    )
    report = verify.verify_file(data=signed, resolve_payload=generations)
    assert report["evidence"] == "proof" and report["watermark"]["matches_manifest"] is False
    assert report["generation"]["id"] == "gen_0001"
    assert report["generation"]["identified_by"] == "manifest"
    assert report["watermark"]["generation"] == "gen_0002"  # the trace, reported as such


@pytest.mark.slow
def test_a_mirrored_reupload_is_identified_and_the_report_says_so(signed_vertical, generations):
    mirrored = synthetic.reorient(signed_vertical, orientation="hflip")
    report = verify.verify_file(data=mirrored, resolve_payload=generations)
    assert report["watermark"]["generation"] == "gen_0001"
    assert report["watermark"]["orientation"] == "hflip" and report["evidence"] == "trace"
    assert "mirrored left-right" in report["summary"]
