"""The ledger's transparency log: an RFC 9162 Merkle tree of every committed
transaction, with signed C2SP checkpoints as tree heads. See docs/ledger.md.

* ``merkle``, ``leaf``, ``checkpoint``: pure (no Django). The auditor CLI
  (``python -m ledger.audit``) imports them without Django, so this package
  imports nothing on its own.
* ``keys``: the log's Ed25519 signing key, created on first need, encrypted at rest.
* ``sequencer``: appends queued transactions to the tree and signs tree heads.
"""
