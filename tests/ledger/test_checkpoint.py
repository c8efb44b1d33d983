"""Signed notes and checkpoints against the C2SP spec and golang.org/x/mod/sumdb/note.

The Go package documents this example (note.go and note_test.go): the key
``PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz``
signs the two-line text below into exactly the note below. Ed25519 is
deterministic (RFC 8032), so reproducing it byte for byte checks the key id,
the signed bytes, the line format and the base64 all at once."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.log import checkpoint as cp

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"


def test_signing_reproduces_the_go_note_byte_for_byte():
    name, key = cp.parse_signer_key(GO_SKEY)
    assert name == "PeterNeumann"
    assert cp.sign_note(GO_TEXT, name, key) == GO_NOTE
    assert cp.verifier_key(name, cp.raw_public_key(key.public_key())) == GO_VKEY


def test_the_go_note_opens_with_the_go_verifier_key():
    assert cp.open_note(GO_NOTE, cp.parse_verifier_key(GO_VKEY)) == GO_TEXT


def test_key_id_follows_the_spec_computed_independently():
    raw = base64.b64decode(GO_VKEY.split("+", 2)[2])
    assert raw[0] == 1
    expected = hashlib.sha256(b"PeterNeumann" + b"\n" + b"\x01" + raw[1:]).digest()[:4]
    assert expected.hex() == "c74f20a3" == cp.key_id("PeterNeumann", raw[1:]).hex()


@pytest.mark.parametrize("mangle", [
    lambda n: n.replace("cryptography", "cryptographY"),
    lambda n: n.replace("x08go", "x08gp"),
    lambda n: n.replace("\n\n", "\n"),
    lambda n: n.rstrip("\n"),
    lambda n: n.replace("\u2014", "-"),
    lambda n: n.replace("PeterNeumann x08", "PeterNeumann  x08"),
])
def test_tampered_or_malformed_notes_are_refused(mangle):
    with pytest.raises(cp.NoteError):
        cp.open_note(mangle(GO_NOTE), cp.parse_verifier_key(GO_VKEY))


def test_a_note_signed_by_someone_else_is_refused_and_extra_signatures_are_ignored():
    other = Ed25519PrivateKey.generate()
    foreign = cp.sign_note(GO_TEXT, "PeterNeumann", other)  # same name, other key
    with pytest.raises(cp.NoteError, match="not signed"):
        cp.open_note(foreign, cp.parse_verifier_key(GO_VKEY))
    # A witness cosignature appended after the log's own line does not disturb it.
    witness = Ed25519PrivateKey.generate()
    cosig_line = cp.sign_note(GO_TEXT, "witness.example", witness).split("\n\n", 1)[1]
    assert cp.open_note(GO_NOTE + cosig_line, cp.parse_verifier_key(GO_VKEY)) == GO_TEXT


@pytest.mark.parametrize("vkey", [
    "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
    "PeterNeumann+c74f20a3+AhpcZ2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong type
    "PeterNeumann+c74f20a3",
    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # truncated
])
def test_bad_verifier_keys_are_refused(vkey):
    with pytest.raises(cp.NoteError):
        cp.parse_verifier_key(vkey)


def test_checkpoint_round_trip_and_independent_verification():
    key = Ed25519PrivateKey.generate()
    root = hashlib.sha256(b"root").digest()
    note = cp.sign_note(cp.checkpoint_text("doppel.local/ledger", 1234, root), "doppel.local/ledger", key)
    # Verify without ledger.log.checkpoint: split per the signed-note spec, check with cryptography.
    text, sig_line = note.split("\n\n")
    assert text == f"doppel.local/ledger\n1234\n{base64.b64encode(root).decode()}"
    assert sig_line.startswith("\u2014 doppel.local/ledger ") and sig_line.endswith("\n")
    blob = base64.b64decode(sig_line.split(" ")[2])
    pub = cp.raw_public_key(key.public_key())
    assert blob[:4] == hashlib.sha256(b"doppel.local/ledger\n\x01" + pub).digest()[:4]
    Ed25519PublicKey.from_public_bytes(pub).verify(blob[4:], (text + "\n").encode())

    vkey = cp.parse_verifier_key(cp.verifier_key("doppel.local/ledger", pub))
    parsed = cp.open_checkpoint(note, vkey)
    assert (parsed.origin, parsed.size, parsed.root) == ("doppel.local/ledger", 1234, root)
    with pytest.raises(cp.NoteError):
        cp.open_checkpoint(note.replace("\n1234\n", "\n1235\n"), vkey)


@pytest.mark.parametrize("text", [
    "origin\n012\n" + base64.b64encode(b"x" * 32).decode() + "\n",  # leading zero
    "origin\n12\n" + base64.b64encode(b"x" * 31).decode() + "\n",  # short root
    "origin\n-1\n" + base64.b64encode(b"x" * 32).decode() + "\n",
    "origin\n12\n",
    "\n12\n" + base64.b64encode(b"x" * 32).decode() + "\n",
])
def test_malformed_checkpoints_are_refused(text):
    with pytest.raises(cp.NoteError):
        cp.parse_checkpoint(text)


def test_extension_lines_are_read_not_required():
    text = "o\n5\n" + base64.b64encode(b"x" * 32).decode() + "\nextra\n"
    assert cp.parse_checkpoint(text).extensions == ("extra",)
