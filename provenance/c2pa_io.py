"""Content Credentials: sign delivered media and read manifests back (c2pa-python).

Signing embeds one C2PA manifest with

* ``c2pa.actions``: ``c2pa.created`` with digitalSourceType
  ``trainedAlgorithmicMedia`` and ``c2pa.watermarked`` (the soft binding below);
* ``com.doppel.license`` (:class:`LicenseAssertion`, versioned): performer,
  brand, contract, generation, platform, category, language, territory and the
  ledger transaction that paid the royalty;
* ``c2pa.training-mining``: every use ``notAllowed``;
* ``c2pa.soft-binding``: names the invisible watermark algorithm and carries
  its payload, so a stripped copy can be tied back to this manifest.

The native Signer/Context objects are created lazily and cached *per process
id*: a Context made before ``fork()`` is invalid in the child (django-q2
forks its workers), so a child silently builds its own. They are also rebuilt
when the current signing certificate changes (rotation by another process).
"""

from __future__ import annotations

import importlib
import io
import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import c2pa
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from django.core.exceptions import ImproperlyConfigured

from provenance import conf, keys

LICENSE_LABEL = "com.doppel.license"
LICENSE_VERSION = 1
SOFT_BINDING_LABEL = "c2pa.soft-binding"
TRAINING_MINING_LABEL = "c2pa.training-mining"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CLAIM_GENERATOR = "Doppel"
CLAIM_GENERATOR_VERSION = "1.0"

# What c2pa-python 0.38 can embed a manifest into, among the media Doppel handles.
SIGNABLE_MIMES = frozenset({"video/mp4", "video/quicktime", "image/jpeg", "image/png"})

STATES = ("Trusted", "Valid", "Invalid", "NoManifest")


class SigningError(RuntimeError):
    """Signing failed (bad input media, signer misconfigured, callback error)."""


# --- the licence assertion ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LicenseAssertion:
    """The Doppel licence a delivered file was made under (``com.doppel.license`` v1).

    ``ledger_transaction`` is the posted royalty transaction. Doppel signs
    *after* posting, so it is normally set; ``ledger_hold`` names the two-phase
    hold it came from, for pipelines that must sign before posting (then
    ``ledger_transaction`` is null and the hold is the link to the ledger).
    """

    performer: str
    brand: str
    contract: str
    generation: str
    platform: str
    category: str
    language: str
    territory: str
    ledger_transaction: str | None = None
    ledger_hold: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            optional = f.name in ("ledger_transaction", "ledger_hold")
            if value is None and optional:
                continue
            if not isinstance(value, str) or not value:
                raise ValueError(f"licence field {f.name!r} must be a non-empty string")

    def to_dict(self) -> dict[str, Any]:
        return {"version": LICENSE_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LicenseAssertion:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known - {"version"}
        if unknown:
            raise ValueError(f"unknown licence fields: {sorted(unknown)}")
        if data.get("version", LICENSE_VERSION) != LICENSE_VERSION:
            raise ValueError(f"unsupported licence assertion version {data.get('version')!r}")
        return cls(**{k: v for k, v in data.items() if k in known})


# --- reading ---------------------------------------------------------------------------


@dataclass
class C2paReport:
    """What the C2PA reader says about a file."""

    state: str  # Trusted | Valid | Invalid | NoManifest
    failures: list[dict] = field(default_factory=list)  # [{"code", "explanation"}]
    license: dict | None = None  # the com.doppel.license assertion as found (trusted or not)
    soft_binding: dict | None = None
    # The signing certificate's subject (CN, O) — verified only when its chain is trusted
    # (Doppel's root); otherwise prefixed "untrusted: ", since anyone can put our names in
    # a certificate of their own (``_issuer``).
    issuer: str | None = None
    issuer_trusted: bool = False
    ours: bool = False  # signature chains to Doppel's root CA
    manifests: int = 0  # manifests in the store (>1: ingredients carry their own)
    claim_generator: str | None = None
    actions: list[dict] = field(default_factory=list)
    training_mining: dict | None = None
    error: str | None = None  # the reader could not parse the asset or the store

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- per-process native state ------------------------------------------------------------


class _ProcessState:
    """Native c2pa objects valid in the process (pid) that made them."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.sign_ctx: c2pa.Context | None = None
        self.sign_key: tuple | None = None  # what sign_ctx was built from
        self.read_ctx: c2pa.Context | None = None
        self.read_root: bytes | None = None
        self.lock = threading.Lock()

    def check_pid(self) -> None:
        pid = os.getpid()
        if self.pid != pid:
            # Objects inherited through fork() are unusable here; drop the
            # references (c2pa detaches them without freeing the parent's).
            self.pid = pid
            self.sign_ctx = None
            self.sign_key = None
            self.read_ctx = None
            self.read_root = None
            self.lock = threading.Lock()


_state = _ProcessState()


def _settings_dict(root_pem: bytes) -> dict:
    return {
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        "trust": {"user_anchors": root_pem.decode("ascii")},
        "builder": {"thumbnail": {"enabled": False}},
    }


def _load_callback(path: str) -> Callable[[bytes], bytes]:
    module_name, _, func_name = path.partition(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise ImproperlyConfigured(
            f"DOPPEL_SIGNER_CALLBACK={path!r} cannot be imported: {exc}"
        ) from exc
    if not callable(func):
        raise ImproperlyConfigured(f"DOPPEL_SIGNER_CALLBACK={path!r} is not callable")
    return func


def _raw_es256(signature: bytes) -> bytes:
    """c2pa wants the raw r||s form (COSE); accept DER from KMS APIs too."""
    if len(signature) == 64:
        return signature
    r, s = decode_dss_signature(signature)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _check_key_matches(certificate: x509.Certificate, sign: Callable[[bytes], bytes]) -> None:
    """Sign a probe with the configured key and verify it with the certificate.

    Catches a KMS key / certificate mismatch at start-up instead of producing
    files whose signature never verifies.
    """
    probe = b"doppel signer probe " + os.urandom(16)
    raw = _raw_es256(sign(probe))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key = certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise ImproperlyConfigured("the signing certificate does not hold an EC key")
    try:
        public_key.verify(der, probe, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise ImproperlyConfigured(
            "the signer's key does not match the signing certificate"
        ) from exc


def _build_signer() -> tuple[c2pa.Signer, tuple]:
    callback_path = conf.signer_callback_path()
    tsa = conf.tsa_url()
    if callback_path:
        certs_file = conf.signer_certs_file()
        if certs_file is not None:
            chain = certs_file.read_bytes()
            certificate = x509.load_pem_x509_certificates(chain)[0]
            name = f"file:{certs_file}"
        else:
            identity = keys.current_signing_identity(with_key=False)
            chain, certificate, name = identity.chain_pem, identity.certificate, identity.name
        func = _load_callback(callback_path)
        _check_key_matches(certificate, func)

        def sign(data: bytes) -> bytes:
            return _raw_es256(func(data))

        signer = c2pa.Signer.from_callback(
            sign, c2pa.C2paSigningAlg.ES256, chain.decode("ascii"), tsa
        )
        return signer, ("callback", callback_path, name, tsa)
    identity = keys.current_signing_identity()
    if identity.external:
        raise ImproperlyConfigured(
            f"signing certificate {identity.name} has no local key (KMS/HSM); set DOPPEL_SIGNER_CALLBACK"
        )
    assert identity.private_key_pem is not None
    key = serialization.load_pem_private_key(identity.private_key_pem, password=None)
    _check_key_matches(identity.certificate, lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())))
    info = c2pa.C2paSignerInfo(b"es256", identity.chain_pem, identity.private_key_pem, tsa)
    return c2pa.Signer.from_info(info), ("local", identity.name, tsa)


def _signer_fingerprint() -> tuple:
    """Cheap: what the signer would be built from now (a rotation changes it)."""
    callback_path = conf.signer_callback_path()
    directory = keys.ensure_keys()
    current = (directory / keys.CURRENT).read_text().strip()
    return (str(directory), callback_path, str(conf.signer_certs_file()), current, conf.tsa_url())


def _sign_context() -> c2pa.Context:
    _state.check_pid()
    wanted = _signer_fingerprint()
    if _state.sign_ctx is None or _state.sign_key != wanted:
        signer, _ = _build_signer()
        _state.sign_ctx = c2pa.Context.from_dict(_settings_dict(keys.root_pem()), signer=signer)
        _state.sign_key = wanted
    return _state.sign_ctx


def _read_context() -> c2pa.Context:
    _state.check_pid()
    root = keys.root_pem()
    if _state.read_ctx is None or _state.read_root != root:
        _state.read_ctx = c2pa.Context.from_dict(_settings_dict(root))
        _state.read_root = root
    return _state.read_ctx


def signer_preflight() -> dict:
    """Build (or reuse) this process's signer, proving keys and certificate work.

    Call before posting a royalty so a signing fault surfaces before money moves.
    """
    _state.check_pid()
    with _state.lock:
        _sign_context()
        return {"signer": _state.sign_key}


# --- signing -----------------------------------------------------------------------------


def _soft_binding(watermark: dict) -> dict:
    """Accept ``{"payload": int}`` or a ready ``watermark.soft_binding(payload)`` dict."""
    from provenance import watermark as wm

    if "payload" in watermark:
        payload = watermark["payload"]
        if not isinstance(payload, int) or isinstance(payload, bool):
            raise ValueError("watermark['payload'] must be the int embedded in the frames")
        return wm.soft_binding(payload)
    if wm.payload_from_soft_binding(watermark) is None:
        raise ValueError(
            "watermark must be {'payload': int} or provenance.watermark.soft_binding(payload)"
        )
    return watermark


def _manifest(*, license: LicenseAssertion, watermark: dict, title: str) -> dict:
    from provenance import watermark as wm

    return {
        "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": CLAIM_GENERATOR_VERSION}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": {
                                "name": "Doppel renderer",
                                "version": CLAIM_GENERATOR_VERSION,
                            },
                            "description": "AI-generated video of a licensed digital double",
                        },
                        {
                            "action": "c2pa.watermarked",
                            "softwareAgent": {"name": "Doppel watermark", "version": wm.ALGORITHM},
                        },
                    ]
                },
            },
            {"label": LICENSE_LABEL, "data": license.to_dict()},
            {
                "label": TRAINING_MINING_LABEL,
                "data": {
                    "entries": {
                        "c2pa.ai_generative_training": {"use": "notAllowed"},
                        "c2pa.ai_training": {"use": "notAllowed"},
                        "c2pa.ai_inference": {"use": "notAllowed"},
                        "c2pa.data_mining": {"use": "notAllowed"},
                    }
                },
            },
            {"label": SOFT_BINDING_LABEL, "data": _soft_binding(watermark)},
        ],
    }


def sign_video(
    *,
    data: bytes,
    mime: str,
    license: LicenseAssertion | dict,
    watermark: dict,
    title: str | None = None,
) -> bytes:
    """Embed a signed Doppel manifest into ``data`` and return the signed bytes.

    ``mime``: video/mp4, video/quicktime, image/jpeg or image/png.
    ``watermark``: ``{"payload": int}`` (the payload :func:`provenance.watermark.embed_frames`
    put in the frames) or the dict ``provenance.watermark.soft_binding(payload)`` returns;
    it becomes the ``c2pa.soft-binding`` assertion.
    Works on in-memory streams only (no temp files).
    """
    if mime not in SIGNABLE_MIMES:
        raise ValueError(f"cannot sign {mime!r}; supported: {sorted(SIGNABLE_MIMES)}")
    if not isinstance(license, LicenseAssertion):
        license = LicenseAssertion.from_dict(license)
    extension = {
        "video/mp4": "mp4",
        "video/quicktime": "mov",
        "image/jpeg": "jpg",
        "image/png": "png",
    }[mime]
    manifest = _manifest(
        license=license, watermark=watermark, title=title or f"{license.generation}.{extension}"
    )
    _state.check_pid()
    with _state.lock:
        context = _sign_context()
        builder = c2pa.Builder(manifest, context=context)
        out = io.BytesIO()
        try:
            builder.sign(mime, io.BytesIO(data), out)
        except c2pa.C2paError as exc:
            raise SigningError(f"c2pa could not sign this {mime}: {exc}") from exc
        finally:
            builder.close()
    return out.getvalue()


# --- reading -----------------------------------------------------------------------------


def _failure(code: str, explanation: str) -> dict:
    return {"code": code, "explanation": explanation}


def _read_error_report(exc: Exception) -> C2paReport:
    message = str(exc)
    name = type(exc).__name__
    if "ManifestNotFound" in name or "no JUMBF data found" in message:
        return C2paReport(state="NoManifest")
    if "more than one manifest store" in message:
        return C2paReport(
            state="Invalid",
            failures=[_failure("manifest.multipleStores", message)],
            error=message,
        )
    if "could not be parsed" in message or "Io" in name or "Decoding" in name:
        # The container itself is broken (truncated, random bytes): no manifest can be read.
        return C2paReport(
            state="NoManifest", failures=[_failure("asset.unreadable", message)], error=message
        )
    return C2paReport(
        state="Invalid", failures=[_failure("manifest.unreadable", message)], error=message
    )


def _results_failures(results: dict | None) -> tuple[list[dict], set[str]]:
    failures: list[dict] = []
    success_codes: set[str] = set()
    if not results:
        return failures, success_codes
    active = results.get("activeManifest") or {}
    for item in active.get("failure") or []:
        failures.append(_failure(item.get("code", "unknown"), item.get("explanation", "")))
    success_codes = {item.get("code") for item in active.get("success") or []}
    for delta in results.get("ingredientDeltas") or []:
        for item in (delta.get("validationDeltas") or {}).get("failure") or []:
            failures.append(
                _failure(f"ingredient:{item.get('code', 'unknown')}", item.get("explanation", ""))
            )
    return failures, success_codes


UNTRUSTED_ISSUER_PREFIX = "untrusted: "


def _issuer(info: dict, *, trusted: bool) -> str | None:
    """The signer's names as shown: bare only when the chain is trusted (to Doppel's
    root, with no signing-credential failure); else marked ``untrusted: …`` — a
    look-alike CA can copy our names exactly (issue 10 item 16)."""
    names = ", ".join(str(x) for x in (info.get("common_name"), info.get("issuer")) if x)
    if not names:
        return None
    return names if trusted else UNTRUSTED_ISSUER_PREFIX + names


_READABLE: frozenset[str] | None = None


def _readable_mimes() -> frozenset[str]:
    global _READABLE
    if _READABLE is None:
        _READABLE = frozenset(c2pa.Reader.get_supported_mime_types())
    return _READABLE


def read_manifest(*, data: bytes, mime: str) -> C2paReport:
    """Read and validate the C2PA manifest store of ``data``, trusting only Doppel's root."""
    if mime not in _readable_mimes():
        return C2paReport(state="NoManifest", error=f"C2PA does not define embedding in {mime}")
    _state.check_pid()
    with _state.lock:
        context = _read_context()
        try:
            reader = c2pa.Reader(mime, io.BytesIO(data), context=context)
        except c2pa.C2paError as exc:
            return _read_error_report(exc)
        try:
            state = reader.get_validation_state() or "Invalid"
            results = reader.get_validation_results()
            store = json.loads(reader.json())
        finally:
            reader.close()
    manifest = (store.get("manifests") or {}).get(store.get("active_manifest") or "", {})
    failures, success_codes = _results_failures(results)
    report = C2paReport(
        state=state if state in STATES else "Invalid",
        failures=failures,
        manifests=len(store.get("manifests") or {}),
        ours="signingCredential.trusted" in success_codes,
    )
    info = manifest.get("signature_info") or {}
    if info:
        report.issuer_trusted = report.ours and not any(
            f["code"].startswith("signingCredential.") for f in failures)
        report.issuer = _issuer(info, trusted=report.issuer_trusted)
    generators = manifest.get("claim_generator_info") or []
    if generators:
        report.claim_generator = generators[0].get("name")
    elif manifest.get("claim_generator"):
        report.claim_generator = manifest["claim_generator"]
    for assertion in manifest.get("assertions") or []:
        label = assertion.get("label", "")
        data_ = assertion.get("data")
        if label == LICENSE_LABEL or label.startswith(LICENSE_LABEL + ".v"):
            report.license = data_
        elif label == SOFT_BINDING_LABEL or label.startswith(SOFT_BINDING_LABEL + ".v"):
            report.soft_binding = data_
        elif label == TRAINING_MINING_LABEL or label.startswith(TRAINING_MINING_LABEL + ".v"):
            report.training_mining = data_
        elif label.startswith("c2pa.actions"):
            report.actions = list((data_ or {}).get("actions") or [])
    return report
