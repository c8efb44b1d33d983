"""Signing keys and certificates for Content Credentials (C2PA).

Layout under :func:`provenance.conf.keys_dir` (default ``DATA_DIR/keys``)::

    root-ca.crt.pem            the trust anchor every Doppel signature chains to
    root-ca.key.pem            its private key, PKCS#8, encrypted at rest
    signing/<name>.crt.pem     one ES256 signing certificate per rotation (name sorts in issue order)
    signing/<name>.key.pem     its private key, encrypted (absent for KMS/HSM keys)
    current                    the <name> new files are signed with
    watermark/<id>.key.json    one watermark key per rotation (id sorts in issue order), encrypted

Certificates follow what c2pa-rs accepts (see shared NOTES.md): the signing
cert is P-256 with KeyUsage digitalSignature, ExtendedKeyUsage
emailProtection, BasicConstraints CA=false, and an AuthorityKeyIdentifier.
Rotation adds a signing certificate and moves ``current``; the root stays, so
files signed with an older certificate still verify as Trusted.

Everything is created on first need (:func:`ensure_keys`,
:func:`watermark_keys`); concurrent first uses in several processes are
serialised with an exclusive file lock and each file is written atomically
(temp file + rename).

**Watermark keys** are 32 random bytes that key the watermark's spreading
pattern (provenance/watermark/pattern.py): without one, nobody can write or
read a Doppel watermark. They are kept like the signing keys — under the same
directory and lock, encrypted with the same passphrase (AES-256-GCM under a
scrypt-derived key, the file's id as associated data), mode 0600. Rotation
adds a key; the newest one marks new renders and detection tries every key,
newest first, so clips marked under an older key are still found.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.exceptions import ImproperlyConfigured

from provenance import conf

ROOT_CERT = "root-ca.crt.pem"
ROOT_KEY = "root-ca.key.pem"
SIGNING_DIR = "signing"
CURRENT = "current"
WATERMARK_DIR = "watermark"
WATERMARK_KEY_BYTES = 32
WATERMARK_KEY_FORMAT = "doppel-watermark-key/1"
# scrypt cost for the key-encryption key: ~50 ms and 16 MiB once per key and process
# (decrypted keys are cached), and what makes a weak operator passphrase costly to guess.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1

ROOT_VALIDITY = dt.timedelta(days=365 * 25)
# Long-lived on purpose: without a timestamp authority, c2pa checks a
# signature against the current time, so an expired signing cert would turn
# every file it signed into "signingCredential.expired" (NOTES.md).
SIGNING_VALIDITY = dt.timedelta(days=365 * 10)
ORGANIZATION = "Doppel"


@dataclass(frozen=True)
class SigningIdentity:
    """One signing certificate, with its chain and (when local) its private key."""

    name: str
    certificate: x509.Certificate
    chain_pem: bytes  # signing certificate first, then the root
    private_key_pem: (
        bytes | None
    )  # PKCS#8 PEM, decrypted in memory; None when not loaded or external
    external: bool  # the private key lives outside Doppel (KMS/HSM, signed through a callback)


@dataclass(frozen=True)
class WatermarkKey:
    """A deployment's secret watermark key.

    ``id`` is public (the file name, e.g. ``wm-0002-20260101T000000Z-a1b2c3``; sorts in
    issue order); ``secret`` (32 bytes) never leaves the process and is kept out of ``repr``.
    """

    id: str
    secret: bytes = field(repr=False)


class KeyStoreError(ImproperlyConfigured):
    """The key store is missing something or cannot be decrypted."""


# --- pure certificate helpers ------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Content Credentials"),
        ]
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def make_root_ca(
    *, common_name: str = "Doppel Content Credentials Root CA"
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed P-256 root: BasicConstraints CA (path length 0), keyCertSign."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_signing_certificate(
    *,
    public_key: ec.EllipticCurvePublicKey,
    root_key: ec.EllipticCurvePrivateKey,
    root_cert: x509.Certificate,
    common_name: str,
    validity: dt.timedelta = SIGNING_VALIDITY,
) -> x509.Certificate:
    """An ES256 end-entity certificate that c2pa accepts for signing manifests."""
    if (
        not isinstance(public_key, ec.EllipticCurvePublicKey)
        or public_key.curve.name != "secp256r1"
    ):
        raise ValueError("C2PA ES256 signing needs a P-256 (secp256r1) public key")
    now = _now()
    not_after = min(now + validity, root_cert.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(root_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def pkcs8_pem(key: ec.EllipticCurvePrivateKey, *, passphrase: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


# --- files -------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / ".lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=conf.key_passphrase())
    except (ValueError, TypeError) as exc:
        raise KeyStoreError(
            f"cannot decrypt {path}: wrong DOPPEL_SIGNING_KEY_PASSPHRASE (or SECRET_KEY changed since the key was made)"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyStoreError(f"{path} is not an EC private key")
    return key


def _new_identity_name(signing_dir: Path) -> str:
    """``signing-<sequence>-<UTC time>-<random>``: sorts in issue order (made under the lock)."""
    sequence = len(list(signing_dir.glob("*.crt.pem"))) + 1
    return f"signing-{sequence:04d}-{_now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _store_signing(
    directory: Path,
    *,
    root_key: ec.EllipticCurvePrivateKey,
    root_cert: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey | None = None,
) -> str:
    """Issue a signing certificate (new local key unless ``public_key`` is given) and make it current."""
    signing = directory / SIGNING_DIR
    signing.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = _new_identity_name(signing)
    key = None
    if public_key is None:
        key = ec.generate_private_key(ec.SECP256R1())
        public_key = key.public_key()
    cert = issue_signing_certificate(
        public_key=public_key,
        root_key=root_key,
        root_cert=root_cert,
        common_name=f"Doppel Content Credentials Signer {name.removeprefix('signing-')}",
    )
    if key is not None:
        _write_atomic(
            signing / f"{name}.key.pem",
            pkcs8_pem(key, passphrase=conf.key_passphrase()),
            mode=0o600,
        )
    _write_atomic(signing / f"{name}.crt.pem", cert_pem(cert), mode=0o644)
    _write_atomic(directory / CURRENT, name.encode(), mode=0o644)
    return name


def ensure_keys() -> Path:
    """Create the root CA and a first signing certificate if they do not exist yet.

    Cheap when everything exists (two ``stat`` calls). Safe to call from many
    processes at once: creation happens under an exclusive lock, re-checked
    after the lock is taken.
    """
    directory = conf.keys_dir()
    if (directory / ROOT_CERT).exists() and (directory / CURRENT).exists():
        return directory
    with _locked(directory):
        if not (directory / ROOT_CERT).exists():
            if (directory / ROOT_KEY).exists():
                raise KeyStoreError(
                    f"{directory / ROOT_KEY} exists without its certificate; refusing to overwrite"
                )
            root_key, root_cert = make_root_ca()
            _write_atomic(
                directory / ROOT_KEY,
                pkcs8_pem(root_key, passphrase=conf.key_passphrase()),
                mode=0o600,
            )
            _write_atomic(directory / ROOT_CERT, cert_pem(root_cert), mode=0o644)
        if not (directory / CURRENT).exists():
            root_key = _load_key(directory / ROOT_KEY)
            root_cert = x509.load_pem_x509_certificate((directory / ROOT_CERT).read_bytes())
            _store_signing(directory, root_key=root_key, root_cert=root_cert)
    return directory


def root_certificate() -> x509.Certificate:
    directory = ensure_keys()
    return x509.load_pem_x509_certificate((directory / ROOT_CERT).read_bytes())


def root_pem() -> bytes:
    return cert_pem(root_certificate())


def rotate_signing_key(*, public_key: ec.EllipticCurvePublicKey | None = None) -> SigningIdentity:
    """Issue a new signing certificate under the same root and make it current.

    With ``public_key`` (a KMS/HSM key's public half) no private key is stored;
    signing then needs ``DOPPEL_SIGNER_CALLBACK``. Old certificates are kept:
    files signed with them still chain to the root and verify.
    """
    directory = ensure_keys()
    with _locked(directory):
        root_key = _load_key(directory / ROOT_KEY)
        root_cert = x509.load_pem_x509_certificate((directory / ROOT_CERT).read_bytes())
        _store_signing(directory, root_key=root_key, root_cert=root_cert, public_key=public_key)
    return current_signing_identity()


def _identity(directory: Path, name: str, *, with_key: bool = True) -> SigningIdentity:
    signing = directory / SIGNING_DIR
    cert_path = signing / f"{name}.crt.pem"
    if not cert_path.exists():
        raise KeyStoreError(f"{directory / CURRENT} names {name!r} but {cert_path} is missing")
    cert_bytes = cert_path.read_bytes()
    cert = x509.load_pem_x509_certificate(cert_bytes)
    key_path = signing / f"{name}.key.pem"
    external = not key_path.exists()
    key_pem = pkcs8_pem(_load_key(key_path)) if with_key and not external else None
    chain = cert_bytes + (directory / ROOT_CERT).read_bytes()
    return SigningIdentity(
        name=name, certificate=cert, chain_pem=chain, private_key_pem=key_pem, external=external
    )


def current_signing_identity(*, with_key: bool = True) -> SigningIdentity:
    directory = ensure_keys()
    name = (directory / CURRENT).read_text().strip()
    return _identity(directory, name, with_key=with_key)


def signing_identities() -> list[SigningIdentity]:
    """Every signing certificate ever issued (oldest first), without private keys."""
    directory = ensure_keys()
    names = sorted(
        p.name.removesuffix(".crt.pem") for p in (directory / SIGNING_DIR).glob("*.crt.pem")
    )
    return [_identity(directory, name, with_key=False) for name in names]


def describe() -> dict:
    """A JSON-able summary for ``manage.py provenance_keys --show``."""
    root = root_certificate()
    current = current_signing_identity(with_key=False)
    watermark = watermark_keys()

    def cert_info(cert: x509.Certificate) -> dict:
        return {
            "subject": cert.subject.rfc4514_string(),
            "serial": format(cert.serial_number, "x"),
            "sha256": fingerprint(cert),
            "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": cert.not_valid_after_utc.isoformat(),
        }

    return {
        "keys_dir": str(conf.keys_dir()),
        "root": cert_info(root),
        "current": current.name,
        "signing": [
            {"name": ident.name, "external_key": ident.external, **cert_info(ident.certificate)}
            for ident in signing_identities()
        ],
        "signer_callback": conf.signer_callback_path(),
        "tsa_url": conf.tsa_url(),
        "watermark": {
            "current": watermark[0].id,
            "keys": [key.id for key in reversed(watermark)],  # oldest first, as "signing"
        },
    }


# --- watermark keys ----------------------------------------------------------------


def _watermark_kek(passphrase: bytes, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(passphrase)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _seal_watermark_secret(key_id: str, secret: bytes) -> bytes:
    salt, nonce = os.urandom(16), os.urandom(12)
    sealed = AESGCM(_watermark_kek(conf.key_passphrase(), salt)).encrypt(
        nonce, secret, key_id.encode()
    )
    document = {
        "format": WATERMARK_KEY_FORMAT,
        "id": key_id,
        "created": _now().isoformat(),
        "kdf": {"name": "scrypt", "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P, "salt": _b64(salt)},
        "cipher": "AES-256-GCM",
        "nonce": _b64(nonce),
        "ciphertext": _b64(sealed),
    }
    return json.dumps(document, indent=2).encode()


# (path, passphrase digest) -> secret: decrypting costs a scrypt derivation (~50 ms), and
# detection reads every key on each call. The digest makes a passphrase change miss the cache.
# A plain dict (single get/set under the GIL), no lock: a lock held across fork() would hang
# the worker child.
_watermark_cache: dict[tuple[str, bytes], bytes] = {}


def _open_watermark_key(path: Path) -> WatermarkKey:
    passphrase = conf.key_passphrase()
    key_id = path.name.removesuffix(".key.json")
    cache_key = (str(path), hashlib.sha256(passphrase).digest())
    cached = _watermark_cache.get(cache_key)
    if cached is not None:
        return WatermarkKey(id=key_id, secret=cached)
    try:
        document = json.loads(path.read_bytes())
        if document.get("format") != WATERMARK_KEY_FORMAT or document.get("id") != key_id:
            raise ValueError("not a watermark key file for this name")
        kdf = document["kdf"]
        if kdf.get("name") != "scrypt":
            raise ValueError(f"unknown key derivation {kdf.get('name')!r}")
        kek = Scrypt(
            salt=base64.b64decode(kdf["salt"]), length=32, n=int(kdf["n"]), r=int(kdf["r"]),
            p=int(kdf["p"]),
        ).derive(passphrase)
        nonce, sealed = base64.b64decode(document["nonce"]), base64.b64decode(document["ciphertext"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyStoreError(f"{path} is not a readable watermark key: {exc}") from exc
    try:
        secret = AESGCM(kek).decrypt(nonce, sealed, key_id.encode())
    except InvalidTag as exc:
        raise KeyStoreError(
            f"cannot decrypt {path}: wrong DOPPEL_SIGNING_KEY_PASSPHRASE (or SECRET_KEY changed since the key was made)"
        ) from exc
    if len(secret) != WATERMARK_KEY_BYTES:
        raise KeyStoreError(f"{path} holds a {len(secret)}-byte key, expected {WATERMARK_KEY_BYTES}")
    _watermark_cache[cache_key] = secret
    return WatermarkKey(id=key_id, secret=secret)


def _store_watermark_key(directory: Path) -> str:
    """Make a new watermark key (it becomes the newest, hence current); call under the lock."""
    folder = directory / WATERMARK_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    sequence = len(list(folder.glob("*.key.json"))) + 1
    key_id = f"wm-{sequence:04d}-{_now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    secret = secrets.token_bytes(WATERMARK_KEY_BYTES)
    _write_atomic(folder / f"{key_id}.key.json", _seal_watermark_secret(key_id, secret), mode=0o600)
    return key_id


def _watermark_key_paths(directory: Path) -> list[Path]:
    return sorted((directory / WATERMARK_DIR).glob("*.key.json"))


def watermark_keys() -> list[WatermarkKey]:
    """Every watermark key of this deployment, newest (current) first; creates the first one.

    Cheap after the first call in a process (a directory listing; secrets are cached).
    Raises :class:`KeyStoreError` when a key file cannot be decrypted.
    """
    directory = conf.keys_dir()
    paths = _watermark_key_paths(directory)
    if not paths:
        with _locked(directory):
            paths = _watermark_key_paths(directory)
            if not paths:
                _store_watermark_key(directory)
                paths = _watermark_key_paths(directory)
    return [_open_watermark_key(path) for path in reversed(paths)]


def current_watermark_key() -> WatermarkKey:
    """The key new renders are marked with (the newest); created on first need."""
    return watermark_keys()[0]


def rotate_watermark_key() -> WatermarkKey:
    """Add a new watermark key and make it current. Old keys stay: their clips are still detected.

    Running processes pick the new key up at their next ``frame_filter``/``embed_frames``.
    """
    directory = conf.keys_dir()
    watermark_keys()  # the first key exists before the rotated one, so "rotate" always adds
    with _locked(directory):
        _store_watermark_key(directory)
    return current_watermark_key()
