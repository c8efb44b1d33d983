"""A stand-in for a KMS/HSM: the private key lives only in this module's memory.

``DOPPEL_SIGNER_CALLBACK=tests.provenance.kms_fake:sign`` makes Doppel sign
through it, exactly as it would through a cloud KMS client: bytes in, an ES256
signature out (DER, as KMS APIs return it; ``sign_raw`` returns r||s).
"""

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

_KEY = ec.generate_private_key(ec.SECP256R1())
_OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
calls = {"sign": 0}


def public_key() -> ec.EllipticCurvePublicKey:
    return _KEY.public_key()


def public_key_pem() -> bytes:
    return _KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign(data: bytes) -> bytes:
    calls["sign"] += 1
    return _KEY.sign(data, ec.ECDSA(hashes.SHA256()))


def sign_raw(data: bytes) -> bytes:
    r, s = decode_dss_signature(_KEY.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sign_with_wrong_key(data: bytes) -> bytes:
    return _OTHER_KEY.sign(data, ec.ECDSA(hashes.SHA256()))
