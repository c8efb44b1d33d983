"""Keys and certificates: C2PA-compliant chain, encryption at rest, rotation, races, KMS callback."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from io import StringIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from config import env
from provenance import c2pa_io, conf, keys


def test_root_and_signing_certificates_meet_c2pa_requirements(keys_dir):
    identity = keys.current_signing_identity()
    root = keys.root_certificate()
    leaf = identity.certificate

    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.public_key().curve.name == "secp256r1"
    assert leaf.issuer == root.subject
    # The root really signed the leaf.
    root.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    # The chain handed to c2pa is leaf first, then the root; the key is PKCS#8 PEM bytes.
    chain = x509.load_pem_x509_certificates(identity.chain_pem)
    assert chain == [leaf, root]
    assert identity.private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert leaf.not_valid_after_utc <= root.not_valid_after_utc


def test_private_keys_are_encrypted_at_rest_and_private(keys_dir):
    keys.ensure_keys()
    key_files = [keys_dir / keys.ROOT_KEY, *sorted((keys_dir / keys.SIGNING_DIR).glob("*.key.pem"))]
    assert len(key_files) == 2
    for path in key_files:
        data = path.read_bytes()
        assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with pytest.raises(TypeError):  # no password: refused
            serialization.load_pem_private_key(data, password=None)
        with pytest.raises(ValueError):
            serialization.load_pem_private_key(data, password=b"not the passphrase")
        assert serialization.load_pem_private_key(data, password=conf.key_passphrase())


def test_passphrase_comes_from_a_file_and_a_wrong_one_fails_loudly(keys_dir, tmp_path, monkeypatch, settings):
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple\n")
    monkeypatch.setenv("DOPPEL_SIGNING_KEY_PASSPHRASE_FILE", str(secret))
    # Settings read the environment once, at start: as config/settings.py does.
    settings.DOPPEL_SIGNING_KEY_PASSPHRASE = env.env_str("DOPPEL_SIGNING_KEY_PASSPHRASE")
    keys.ensure_keys()
    key_file = keys_dir / keys.ROOT_KEY
    assert serialization.load_pem_private_key(
        key_file.read_bytes(), password=b"correct horse battery staple"
    )

    settings.DOPPEL_SIGNING_KEY_PASSPHRASE = "a different passphrase entirely"
    with pytest.raises(ImproperlyConfigured, match="cannot decrypt"):
        keys.current_signing_identity()

    settings.DOPPEL_SIGNING_KEY_PASSPHRASE = "short"
    with pytest.raises(ImproperlyConfigured, match="at least 16"):
        conf.key_passphrase()


def test_default_passphrase_is_derived_from_secret_key(keys_dir, settings):
    keys.ensure_keys()
    before = conf.key_passphrase()
    assert keys.current_signing_identity().private_key_pem
    settings.SECRET_KEY = "another-secret-key-that-is-long-enough-0123456789"
    assert conf.key_passphrase() != before
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY changed"):
        keys.current_signing_identity()


def test_rotation_keeps_old_files_verifiable(keys_dir, small):
    first = keys.current_signing_identity()
    signed_before = small.signed()
    rotated = keys.rotate_signing_key()
    assert rotated.name != first.name
    assert rotated.certificate.serial_number != first.certificate.serial_number
    signed_after = small.signed()  # this process notices the rotation by itself

    before = c2pa_io.read_manifest(data=signed_before, mime="video/mp4")
    after = c2pa_io.read_manifest(data=signed_after, mime="video/mp4")
    assert before.state == after.state == "Trusted"
    assert before.ours and after.ours
    assert first.name.removeprefix("signing-") in before.issuer
    assert rotated.name.removeprefix("signing-") in after.issuer
    assert [i.name for i in keys.signing_identities()] == sorted([first.name, rotated.name])
    assert keys.root_certificate() == x509.load_pem_x509_certificate(
        (keys_dir / keys.ROOT_CERT).read_bytes()
    )


def _race(barrier, queue):
    barrier.wait()
    keys.ensure_keys()
    identity = keys.current_signing_identity()
    queue.put((keys.fingerprint(keys.root_certificate()), identity.name))


def test_concurrent_first_use_creates_one_key_set(keys_dir):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(barrier, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(set(results)) == 1
    assert len(list((keys_dir / keys.SIGNING_DIR).glob("*.crt.pem"))) == 1
    assert not list(keys_dir.rglob("*.tmp"))


def test_signer_callback_signs_with_a_key_held_elsewhere(keys_dir, small, settings):
    from tests.provenance import kms_fake

    identity = keys.rotate_signing_key(public_key=kms_fake.public_key())
    assert identity.external and identity.private_key_pem is None
    assert not (keys_dir / keys.SIGNING_DIR / f"{identity.name}.key.pem").exists()

    # Without the callback, an external key cannot sign.
    with pytest.raises(ImproperlyConfigured, match="DOPPEL_SIGNER_CALLBACK"):
        small.signed()

    settings.DOPPEL_SIGNER_CALLBACK = "tests.provenance.kms_fake:sign"
    calls = kms_fake.calls["sign"]
    signed = small.signed()
    assert kms_fake.calls["sign"] > calls  # the callback really did the signing
    report = c2pa_io.read_manifest(data=signed, mime="video/mp4")
    assert report.state == "Trusted" and report.ours, report.failures

    settings.DOPPEL_SIGNER_CALLBACK = "tests.provenance.kms_fake:sign_raw"
    assert c2pa_io.read_manifest(data=small.signed(), mime="video/mp4").state == "Trusted"


def test_signer_callback_with_a_key_that_does_not_match_the_certificate_is_refused(
    keys_dir, small, settings
):
    from tests.provenance import kms_fake

    keys.rotate_signing_key(public_key=kms_fake.public_key())
    settings.DOPPEL_SIGNER_CALLBACK = "tests.provenance.kms_fake:sign_with_wrong_key"
    with pytest.raises(ImproperlyConfigured, match="does not match"):
        small.signed()
    settings.DOPPEL_SIGNER_CALLBACK = "tests.provenance.kms_fake:no_such_function"
    with pytest.raises(ImproperlyConfigured, match="cannot be imported"):
        small.signed()
    settings.DOPPEL_SIGNER_CALLBACK = "no-colon-here"
    with pytest.raises(ImproperlyConfigured, match="module:function"):
        small.signed()


def test_callback_chain_can_come_from_a_file(keys_dir, small, tmp_path, settings):
    from tests.provenance import kms_fake

    root_key = serialization.load_pem_private_key(
        (keys.ensure_keys() / keys.ROOT_KEY).read_bytes(), password=conf.key_passphrase()
    )
    cert = keys.issue_signing_certificate(
        public_key=kms_fake.public_key(),
        root_key=root_key,
        root_cert=keys.root_certificate(),
        common_name="Doppel KMS signer",
    )
    chain = tmp_path / "chain.pem"
    chain.write_bytes(keys.cert_pem(cert) + keys.root_pem())
    settings.DOPPEL_SIGNER_CALLBACK = "tests.provenance.kms_fake:sign"
    settings.DOPPEL_SIGNER_CERTS_FILE = chain
    report = c2pa_io.read_manifest(data=small.signed(), mime="video/mp4")
    assert report.state == "Trusted" and report.issuer.startswith("Doppel KMS signer")


def test_timestamp_authority_url_is_validated_and_passed_to_c2pa(keys_dir, small, settings):
    settings.DOPPEL_TSA_URL = "ftp://tsa.example"
    with pytest.raises(ImproperlyConfigured, match="http"):
        small.signed()
    # Nothing listens on port 9: c2pa must try to reach the TSA, so signing fails.
    settings.DOPPEL_TSA_URL = "http://127.0.0.1:9/tsa"
    with pytest.raises(c2pa_io.SigningError):
        small.signed()
    settings.DOPPEL_TSA_URL = None
    assert c2pa_io.read_manifest(data=small.signed(), mime="video/mp4").state == "Trusted"


def test_provenance_keys_command(keys_dir):
    out = StringIO()
    call_command("provenance_keys", stdout=out)
    assert "1 signing certificate(s)" in out.getvalue()

    out = StringIO()
    call_command("provenance_keys", "--rotate", stdout=out, stderr=StringIO())
    summary = json.loads(out.getvalue())
    assert len(summary["signing"]) == 2 and summary["current"] == summary["signing"][-1]["name"]
    assert summary["keys_dir"] == str(keys_dir)

    out = StringIO()
    call_command("provenance_keys", "--export-root", stdout=out)
    assert x509.load_pem_x509_certificate(out.getvalue().encode()) == keys.root_certificate()

    pub = keys_dir.parent / "kms.pem"
    from tests.provenance import kms_fake

    pub.write_bytes(kms_fake.public_key_pem())
    out = StringIO()
    call_command(
        "provenance_keys", "--rotate", "--public-key", str(pub), stdout=out, stderr=StringIO()
    )
    summary = json.loads(out.getvalue())
    assert summary["signing"][-1]["external_key"] is True
    assert os.path.exists(keys_dir / keys.ROOT_CERT)
