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
from provenance import c2pa_io, conf, keys, verify
from provenance import watermark as wm
from tests.provenance import synthetic


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
    procs = [ctx.Process(target=_race, args=(barrier, queue), daemon=True) for _ in range(4)]  # never outlive pytest
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


# --- the watermark key: a secret of the deployment -------------------------------------------


def _frames():
    return synthetic.synthetic_frames("chelsea", height=360, width=480, count=3, seed=2)


def test_watermark_key_is_created_on_first_need_encrypted_at_rest_and_private(keys_dir):
    key = keys.current_watermark_key()
    assert len(key.secret) == keys.WATERMARK_KEY_BYTES and key.secret not in repr(key).encode()
    [path] = (keys_dir / keys.WATERMARK_DIR).glob("*.key.json")
    assert path.name == f"{key.id}.key.json" and key.id.startswith("wm-0001-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((keys_dir / keys.WATERMARK_DIR).stat().st_mode) == 0o700
    stored = path.read_bytes()
    assert key.secret not in stored and key.secret.hex().encode() not in stored
    document = json.loads(stored)
    assert document["cipher"] == "AES-256-GCM" and document["kdf"]["name"] == "scrypt"
    assert keys.watermark_keys() == [key]  # the same key every time


def test_watermark_key_with_a_wrong_passphrase_fails_loudly(keys_dir, settings):
    settings.DOPPEL_SIGNING_KEY_PASSPHRASE = "the first passphrase, long enough"
    keys.current_watermark_key()
    settings.DOPPEL_SIGNING_KEY_PASSPHRASE = "another passphrase, long enough"
    with pytest.raises(ImproperlyConfigured, match="cannot decrypt"):
        keys.current_watermark_key()
    with pytest.raises(ImproperlyConfigured, match="cannot decrypt"):
        wm.detect_frames(_frames())  # never a silent "not found"


def test_a_clip_marked_with_key_a_is_not_identified_by_a_deployment_with_key_b(
    tmp_path, settings
):
    settings.DOPPEL_KEYS_DIR = tmp_path / "deployment-a"
    key_a = keys.current_watermark_key()
    marked = wm.embed_frames(_frames(), 0xA1A1A1A1A1)
    found = wm.detect_frames(marked)
    assert found.found and found.payload == 0xA1A1A1A1A1
    settings.DOPPEL_KEYS_DIR = tmp_path / "deployment-b"  # another deployment: its own key
    assert found.key_id == key_a.id and keys.watermark_keys()[-1].secret != key_a.secret
    result = wm.detect_frames(marked)
    assert not result.found and result.payload is None
    lookup = {0xA1A1A1A1A1: {"id": "gen_a", "status": "delivered"}}
    mp4 = synthetic.encode_video(marked, crf=20, audio=False)
    report = verify.verify_file(data=mp4, resolve_payload=lookup.get)
    assert report["watermark"]["found"] is False and report["generation"] is None
    assert report["evidence"] == "none"


def test_watermark_key_rotation_marks_new_clips_with_the_new_key_and_still_finds_old_ones(
    keys_dir,
):
    first = keys.current_watermark_key()
    old_clip = wm.embed_frames(_frames(), 0x0000000001)
    rotated = keys.rotate_watermark_key()
    assert rotated.id != first.id and rotated.secret != first.secret
    assert rotated.id.startswith("wm-0002-") and keys.current_watermark_key() == rotated
    assert [k.id for k in keys.watermark_keys()] == [rotated.id, first.id]  # newest first
    new_clip = wm.frame_filter(0x0000000002)(_frames())  # a render after the rotation

    old = wm.detect_frames(old_clip)
    new = wm.detect_frames(new_clip)
    assert old.found and old.payload == 1 and old.key_id == first.id
    assert new.found and new.payload == 2 and new.key_id == rotated.id
    # The new key alone does not read old clips: it really is a different key.
    assert not wm.detect_frames(old_clip, keys=[rotated]).found


def _race_watermark(barrier, queue):
    barrier.wait()
    queue.put(keys.current_watermark_key().id)


def test_concurrent_first_use_creates_one_watermark_key(keys_dir):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_race_watermark, args=(barrier, queue), daemon=True) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    ids = {queue.get(timeout=5) for _ in procs}
    assert len(ids) == 1
    assert len(list((keys_dir / keys.WATERMARK_DIR).glob("*.key.json"))) == 1
    assert not list(keys_dir.rglob("*.tmp"))


def test_provenance_keys_command_rotates_the_watermark_key(keys_dir):
    out = StringIO()
    call_command("provenance_keys", stdout=out)
    assert "watermark key wm-0001-" in out.getvalue()
    out, err = StringIO(), StringIO()
    call_command("provenance_keys", "--rotate-watermark", stdout=out, stderr=err)
    summary = json.loads(out.getvalue())
    assert len(summary["watermark"]["keys"]) == 2
    assert summary["watermark"]["current"] == summary["watermark"]["keys"][-1]
    assert summary["watermark"]["current"].startswith("wm-0002-") and "new watermark key" in err.getvalue()
    assert len(summary["signing"]) == 1  # the signing certificate is not rotated with it
