"""C2PA signing and reading with real certificates: manifest contents, formats, faults, fork safety."""

from __future__ import annotations

import io
import os
import struct
import time

import cv2
import numpy as np
import pytest

from provenance import c2pa_io
from provenance import watermark as wm
from tests.provenance import synthetic
from tests.provenance.conftest import LICENSE


def _boxes(data: bytes) -> list[tuple[int, int, bytes]]:
    out, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        out.append((offset, size, kind))
        offset += size
    return out


def test_signed_mp4_carries_the_doppel_manifest(small):
    signed = small.signed()
    report = c2pa_io.read_manifest(data=signed, mime="video/mp4")
    assert report.state == "Trusted", report.failures
    assert report.failures == []
    assert report.ours is True
    assert report.manifests == 1
    assert report.claim_generator == "Doppel"
    assert report.issuer.startswith("Doppel Content Credentials Signer")
    # Licence: versioned, every field, exactly as given.
    assert report.license == {"version": 1, **LICENSE}
    # AI disclosure.
    created = [a for a in report.actions if a["action"] == "c2pa.created"]
    assert created and created[0]["digitalSourceType"] == c2pa_io.TRAINED_ALGORITHMIC_MEDIA
    assert any(a["action"] == "c2pa.watermarked" for a in report.actions)
    # No training or mining.
    entries = report.training_mining["entries"]
    assert {e["use"] for e in entries.values()} == {"notAllowed"}
    assert "c2pa.ai_generative_training" in entries and "c2pa.data_mining" in entries
    # Soft binding names the watermark and its payload.
    assert report.soft_binding["alg"] == wm.ALGORITHM
    assert wm.payload_from_soft_binding(report.soft_binding) == small.payload
    # The media itself is untouched apart from the manifest box.
    assert synthetic.decode_video(signed).shape == small.marked.shape


def test_sign_accepts_a_licence_object_and_a_soft_binding_dict(small):
    license_ = c2pa_io.LicenseAssertion(**{**LICENSE, "ledger_transaction": None})
    signed = c2pa_io.sign_video(
        data=small.mp4, mime="video/mp4", license=license_, watermark=wm.soft_binding(small.payload)
    )
    report = c2pa_io.read_manifest(data=signed, mime="video/mp4")
    assert report.state == "Trusted"
    assert (
        report.license["ledger_transaction"] is None and report.license["ledger_hold"] == "hld_0001"
    )
    assert wm.payload_from_soft_binding(report.soft_binding) == small.payload


@pytest.mark.parametrize("fmt, mime", [(".jpg", "image/jpeg"), (".png", "image/png")])
def test_images_are_signed_too(small, fmt, mime):
    ok, encoded = cv2.imencode(fmt, cv2.cvtColor(small.marked[0], cv2.COLOR_RGB2BGR))
    signed = c2pa_io.sign_video(
        data=encoded.tobytes(), mime=mime, license=LICENSE, watermark={"payload": 7}
    )
    report = c2pa_io.read_manifest(data=signed, mime=mime)
    assert report.state == "Trusted" and report.license["generation"] == "gen_0001"
    assert (
        cv2.imdecode(np.frombuffer(signed, np.uint8), cv2.IMREAD_COLOR).shape
        == small.marked[0].shape
    )


def test_mov_is_signed(small):
    mov = synthetic.remux(small.mp4, container="mov")
    signed = c2pa_io.sign_video(
        data=mov, mime="video/quicktime", license=LICENSE, watermark={"payload": 9}
    )
    assert c2pa_io.read_manifest(data=signed, mime="video/quicktime").state == "Trusted"


def test_bad_signing_input_is_refused(small):
    with pytest.raises(ValueError, match="cannot sign"):
        c2pa_io.sign_video(
            data=small.mp4, mime="video/webm", license=LICENSE, watermark={"payload": 1}
        )
    with pytest.raises(ValueError, match="territory"):
        c2pa_io.sign_video(
            data=small.mp4,
            mime="video/mp4",
            license={**LICENSE, "territory": ""},
            watermark={"payload": 1},
        )
    with pytest.raises(ValueError, match="unknown licence fields"):
        c2pa_io.sign_video(
            data=small.mp4,
            mime="video/mp4",
            license={**LICENSE, "price": 3},
            watermark={"payload": 1},
        )
    with pytest.raises(ValueError, match="version"):
        c2pa_io.LicenseAssertion.from_dict({**LICENSE, "version": 2})
    with pytest.raises(ValueError, match="payload"):
        c2pa_io.sign_video(
            data=small.mp4, mime="video/mp4", license=LICENSE, watermark={"payload": "1"}
        )
    with pytest.raises(c2pa_io.SigningError):
        c2pa_io.sign_video(
            data=b"\x00" * 64, mime="video/mp4", license=LICENSE, watermark={"payload": 1}
        )


def test_a_tampered_byte_is_invalid_with_the_failure_code(small):
    signed = bytearray(small.signed())
    mdat = next(offset for offset, _, kind in _boxes(bytes(signed)) if kind == b"mdat")
    signed[mdat + 500] ^= 0x01
    report = c2pa_io.read_manifest(data=bytes(signed), mime="video/mp4")
    assert report.state == "Invalid"
    assert "assertion.bmffHash.mismatch" in {f["code"] for f in report.failures}
    assert report.ours  # still our signature: the content changed, not the signer


def test_a_foreign_ca_is_valid_but_untrusted_and_not_ours(small):
    foreign = synthetic.foreign_signer()
    manifest = {
        "claim_generator_info": [{"name": "Doppel"}],  # pretends to be us
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
            {
                "label": c2pa_io.LICENSE_LABEL,
                "data": {"version": 1, **LICENSE, "performer": "pty_forged"},
            },
        ],
    }
    signed = synthetic.sign_with(foreign, data=small.mp4, mime="video/mp4", manifest=manifest)
    report = c2pa_io.read_manifest(data=signed, mime="video/mp4")
    assert report.state == "Valid"
    assert "signingCredential.untrusted" in {f["code"] for f in report.failures}
    assert report.ours is False
    # Issue 10 item 16: an untrusted chain's names are marked, never shown bare.
    assert report.issuer.startswith("untrusted: Elsewhere Media Signer")
    assert (
        report.license["performer"] == "pty_forged"
    )  # read, but see verify: never presented as ours


def test_a_manifest_from_another_tool(small):
    foreign = synthetic.foreign_signer(organization="Other Editor")
    manifest = {
        "claim_generator_info": [{"name": "OtherEditor", "version": "9.1"}],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                        },
                        {"action": "c2pa.color_adjustments"},
                    ]
                },
            },
        ],
    }
    signed = synthetic.sign_with(foreign, data=small.mp4, mime="video/mp4", manifest=manifest)
    report = c2pa_io.read_manifest(data=signed, mime="video/mp4")
    assert report.claim_generator == "OtherEditor"
    assert report.license is None and report.soft_binding is None
    assert report.state == "Valid" and not report.ours
    assert [a["action"] for a in report.actions] == ["c2pa.created", "c2pa.color_adjustments"]


def test_two_manifests_through_an_ingredient(small):
    parent = small.signed()
    builder_manifest = c2pa_io._manifest(
        license=c2pa_io.LicenseAssertion(**LICENSE), watermark={"payload": 5}, title="edit.mp4"
    )
    import c2pa

    with c2pa_io._state.lock:
        builder = c2pa.Builder(builder_manifest, context=c2pa_io._sign_context())
        builder.add_ingredient(
            {"title": "parent.mp4", "relationship": "parentOf"}, "video/mp4", io.BytesIO(parent)
        )
        out = io.BytesIO()
        builder.sign("video/mp4", io.BytesIO(parent), out)
    report = c2pa_io.read_manifest(data=out.getvalue(), mime="video/mp4")
    assert report.manifests == 2
    assert report.state == "Trusted" and report.failures == []


def test_two_manifest_stores_in_one_file_are_invalid(small):
    signed = small.signed()
    offset, size, kind = next(b for b in _boxes(signed) if b[2] == b"uuid")
    doubled = signed[: offset + size] + signed[offset : offset + size] + signed[offset + size :]
    report = c2pa_io.read_manifest(data=doubled, mime="video/mp4")
    assert report.state == "Invalid"
    assert [f["code"] for f in report.failures] == ["manifest.multipleStores"]


def test_reading_garbage_and_unsigned_files(small):
    assert c2pa_io.read_manifest(data=small.mp4, mime="video/mp4").state == "NoManifest"
    garbage = c2pa_io.read_manifest(
        data=b"\x00\x00\x00\x18ftypisom" + os.urandom(500), mime="video/mp4"
    )
    assert garbage.state == "NoManifest" and garbage.failures[0]["code"] == "asset.unreadable"
    webm = c2pa_io.read_manifest(data=b"\x1a\x45\xdf\xa3", mime="video/webm")
    assert webm.state == "NoManifest" and "does not define" in webm.error


def test_signing_works_in_a_forked_worker(small, tmp_path):
    """The parent signs first (so its Context exists), then a forked child signs; the parent verifies."""
    assert c2pa_io.read_manifest(data=small.signed(), mime="video/mp4").state == "Trusted"
    parent_ctx = c2pa_io._state.sign_ctx
    assert parent_ctx is not None
    target = tmp_path / "child.mp4"
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            target.write_bytes(small.signed(generation="gen_child"))
            code = 0 if c2pa_io._state.sign_ctx is not parent_ctx else 3
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("signing hung in the forked child")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
    report = c2pa_io.read_manifest(data=target.read_bytes(), mime="video/mp4")
    assert report.state == "Trusted" and report.license["generation"] == "gen_child"
    # And the parent still signs with its own context afterwards.
    assert c2pa_io.read_manifest(data=small.signed(), mime="video/mp4").state == "Trusted"
    assert c2pa_io._state.sign_ctx is parent_ctx
