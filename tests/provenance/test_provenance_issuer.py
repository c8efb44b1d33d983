"""Issue 10 item 16: the C2PA ``issuer`` of an untrusted certificate never reads as Doppel's.

A look-alike CA with our exact names (root "Doppel Content Credentials Root CA",
signer "Doppel Content Credentials Signer …", O=Doppel) made a clip whose report
showed "Doppel … Signer" as its issuer. Only a chain to Doppel's root shows the
bare names; anything else is marked ``untrusted: …``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provenance import c2pa_io, keys, verify
from tests.provenance import synthetic
from tests.provenance.conftest import LICENSE

MANIFEST = {
    "claim_generator_info": [{"name": "Doppel"}],
    "assertions": [
        {"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": c2pa_io.TRAINED_ALGORITHMIC_MEDIA}]}},
        {"label": c2pa_io.LICENSE_LABEL, "data": {"version": 1, **LICENSE}},
    ],
}


def _look_alike(*, validity=dt.timedelta(days=365), **names) -> synthetic.ForeignSigner:
    """A root and signer named exactly like ours (``keys.make_root_ca``'s default name, our
    signer's common name) whose key is not ours."""
    ours = keys.current_signing_identity(with_key=False).certificate
    common_name = ours.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    root_key, root_cert = keys.make_root_ca(**names)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = keys.issue_signing_certificate(public_key=key.public_key(), root_key=root_key, root_cert=root_cert,
                                          common_name=common_name, validity=validity)
    assert cert.subject == ours.subject  # byte for byte the same names
    return synthetic.ForeignSigner(chain_pem=keys.cert_pem(cert) + keys.cert_pem(root_cert),
                                   key_pem=keys.pkcs8_pem(key), root_pem=keys.cert_pem(root_cert))


@pytest.fixture(scope="module")
def look_alike_clip(small, django_db_blocker):
    with django_db_blocker.unblock():
        keys.ensure_keys()
        signer = _look_alike()
    return synthetic.sign_with(signer, data=small.mp4, mime="video/mp4", manifest=MANIFEST)


def test_a_look_alike_ca_with_our_exact_names_is_marked_untrusted(look_alike_clip):
    report = c2pa_io.read_manifest(data=look_alike_clip, mime="video/mp4")
    assert report.state == "Valid" and report.ours is False
    assert report.issuer_trusted is False
    assert report.issuer.startswith(c2pa_io.UNTRUSTED_ISSUER_PREFIX + "Doppel Content Credentials Signer")
    assert not report.issuer.startswith("Doppel")


def test_the_verify_report_shows_the_marked_issuer(look_alike_clip):
    report = verify.verify_file(data=look_alike_clip, resolve_payload=lambda payload: None)
    assert report["c2pa"]["issuer"].startswith("untrusted: Doppel")
    assert report["c2pa"]["issuer_trusted"] is False
    assert report["c2pa"]["ours"] is False
    assert "not Doppel" in report["summary"]


def test_the_verify_report_says_our_own_issuer_is_trusted(small):
    report = verify.verify_file(data=small.signed(), resolve_payload=lambda payload: None)
    assert report["c2pa"]["issuer_trusted"] is True
    assert report["c2pa"]["issuer"].startswith("Doppel Content Credentials Signer")


def test_our_own_signature_shows_the_bare_issuer(small):
    report = c2pa_io.read_manifest(data=small.signed(), mime="video/mp4")
    assert report.state == "Trusted" and report.issuer_trusted is True
    assert report.issuer.startswith("Doppel Content Credentials Signer")


def test_a_foreign_ca_under_its_own_name_is_marked_too(small):
    signed = synthetic.sign_with(synthetic.foreign_signer(), data=small.mp4, mime="video/mp4", manifest=MANIFEST)
    report = c2pa_io.read_manifest(data=signed, mime="video/mp4")
    assert report.issuer.startswith("untrusted: Elsewhere Media Signer")


@pytest.mark.parametrize("info,trusted,shown", [
    ({"common_name": "Doppel Signer", "issuer": "Doppel"}, True, "Doppel Signer, Doppel"),
    ({"common_name": "Doppel Signer", "issuer": "Doppel"}, False, "untrusted: Doppel Signer, Doppel"),
    ({"issuer": "Doppel"}, False, "untrusted: Doppel"),
    ({}, False, None),
    ({"common_name": None, "issuer": ""}, False, None),
])
def test_issuer_names_are_bare_only_when_trusted(info, trusted, shown):
    assert c2pa_io._issuer(info, trusted=trusted) == shown
