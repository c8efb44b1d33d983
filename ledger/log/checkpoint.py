"""C2SP signed notes (c2sp.org/signed-note) carrying C2SP tlog-checkpoints
(c2sp.org/tlog-checkpoint), Ed25519 only. Pure: no Django (the auditor uses it).

A checkpoint note::

    doppel.local/ledger            <- origin
    1234                           <- tree size, decimal
    base64(root hash)              <- standard base64, 32 bytes
                                   <- blank line ends the text
    — doppel.local/ledger base64(key id ‖ Ed25519 signature)

* The signed message is the note text (first three lines, each ending in
  ``\\n``), not the blank line nor the signature lines.
* key id = the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
* verifier key = ``<name>+<key id as 8 hex digits>+<base64(0x01 ‖ public key)>``.
* The log signs with its origin as key name. We write no extension lines
  (tlog-checkpoint marks them NOT RECOMMENDED) and ignore those of others.

Checked against golang.org/x/mod/sumdb/note's published example (the
PeterNeumann key and note) in tests/ledger/test_checkpoint.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
EM_DASH = "\u2014"
_SIG_LINE = re.compile(r"^\u2014 (?P<name>[^\s+]+) (?P<sig>[A-Za-z0-9+/=]+)$")
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,19})$")


class NoteError(ValueError):
    """Malformed note, key or checkpoint, or a signature that does not verify."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def check_name(name: str) -> str:
    if not name or any(c.isspace() for c in name) or "+" in name or not name.isprintable():
        raise NoteError(f"key name {name!r} must be non-empty, printable, without spaces or '+'")
    return name


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    check_name(name)
    material = base64.b64encode(bytes([ALG_ED25519]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key).hex()}+{material}"


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    public_key: bytes

    @property
    def key_string(self) -> str:
        return verifier_key(self.name, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_verifier_key(vkey: str) -> Verifier:
    parts = vkey.split("+", 2)  # the base64 part may itself contain '+'
    if len(parts) != 3:
        raise NoteError("verifier key must be <name>+<hex key id>+<base64 key>")
    name, hex_id, material = parts
    check_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise NoteError("verifier key id must be 8 lowercase hex digits")
    raw = _b64decode(material, "verifier key")
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise NoteError("verifier key is not an Ed25519 (type 0x01) key")
    public_key = raw[1:]
    if key_id(name, public_key).hex() != hex_id:
        raise NoteError("verifier key id does not match its name and key")
    return Verifier(name=name, key_id=bytes.fromhex(hex_id), public_key=public_key)


def parse_signer_key(skey: str) -> tuple[str, Ed25519PrivateKey]:
    """golang.org/x/mod/sumdb/note private keys: ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>``."""
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise NoteError("signer key must be PRIVATE+KEY+<name>+<hex id>+<base64 key>")
    name, hex_id, material = parts[2], parts[3], parts[4]
    raw = _b64decode(material, "signer key")
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise NoteError("signer key is not an Ed25519 key")
    private_key = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if key_id(check_name(name), raw_public_key(private_key.public_key())).hex() != hex_id:
        raise NoteError("signer key id does not match its name and key")
    return name, private_key


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if "\n\n" in text or text.startswith("\n"):
        raise NoteError("note text must not contain blank lines")
    if any(c != "\n" and not c.isprintable() for c in text):
        raise NoteError("note text must not contain control characters")


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    _check_text(text)
    check_name(name)
    kid = key_id(name, raw_public_key(private_key.public_key()))
    signature = private_key.sign(text.encode("utf-8"))
    return f"{text}\n{EM_DASH} {name} {base64.b64encode(kid + signature).decode('ascii')}\n"


def open_note(note: str, verifier: Verifier) -> str:
    """Return the text of ``note`` if ``verifier`` signed it; raise ``NoteError`` otherwise.

    Signatures by other keys are ignored (witness cosignatures, for example).
    """
    if len(note) > 1_000_000:
        raise NoteError("note is too large")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no signature block (missing blank line)")
    text, block = note[: split + 1], note[split + 2 :]
    _check_text(text)
    if not block.endswith("\n"):
        raise NoteError("signature block must end with a newline")
    lines = block[:-1].split("\n")
    found = False
    for line in lines:
        match = _SIG_LINE.match(line)
        if match is None:
            raise NoteError(f"malformed signature line {line[:80]!r}")
        raw = _b64decode(match["sig"], "signature")
        if len(raw) < 5:
            raise NoteError("signature is too short")
        if match["name"] != verifier.name or raw[:4] != verifier.key_id:
            continue
        if len(raw) != 4 + 64 or not verifier.verify(text.encode("utf-8"), raw[4:]):
            raise NoteError(f"signature by {verifier.name} does not verify")
        found = True
    if not found:
        raise NoteError(f"note is not signed by {verifier.name}+{verifier.key_id.hex()}")
    return text


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    check_name(origin)
    if size < 0 or len(root) != 32:
        raise NoteError("checkpoint needs a size ≥ 0 and a 32-byte root")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("checkpoint text needs origin, size and root lines")
    origin, size, root_b64, *extensions = lines[:-1]
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if not _DECIMAL.match(size) or int(size) >= 2**64:
        raise NoteError("checkpoint size is not a decimal without leading zeros")
    root = _b64decode(root_b64, "checkpoint root hash")
    if len(root) != 32:
        raise NoteError("checkpoint root hash is not 32 bytes")
    if any(not line for line in extensions):
        raise NoteError("checkpoint extension lines must not be empty")
    return Checkpoint(origin=origin, size=int(size), root=root, extensions=tuple(extensions))


def open_checkpoint(note: str, verifier: Verifier, *, origin: str | None = None) -> Checkpoint:
    checkpoint = parse_checkpoint(open_note(note, verifier))
    expected = origin or verifier.name
    if checkpoint.origin != expected:
        raise NoteError(f"checkpoint origin {checkpoint.origin!r} is not {expected!r}")
    return checkpoint
