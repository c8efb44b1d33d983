"""Audit a Doppel ledger from the outside, through its public API only.

    python -m ledger.audit --url https://doppel.example --key dpl_… [--state audit.json]
                           [--verifier-key NAME+ID+KEY] [--max-pending-age 600]

What it checks, trusting nothing the server says without proof:

1. The latest tree head is a C2SP checkpoint signed by the log's Ed25519 key.
   The key comes from ``--verifier-key`` (obtained out of band), else from the
   state file, else it is trusted on first use and pinned in the state file.
   A key change is a failure.
2. The log only grew: the new checkpoint is consistent (RFC 9162 consistency
   proof) with the last one this state file saw; a smaller size or a different
   root at the same size is a failure.
3. Every transaction the caller can see: its postings balance per currency;
   its Merkle leaf, rebuilt here from the listed transaction, hashes to the
   leaf the log holds, and that leaf is included (RFC 9162 inclusion proof)
   under the signed root. A transaction altered after it was logged cannot
   pass. Royalty and revenue-share arithmetic is re-done from the leaf's own
   inputs (fee and P&H on top of the performer's amount, half-up rounding).
4. The caller's balances equal the sum of its visible postings (skipped, and
   said so, when the ledger moved while the audit ran).

Transactions too recent to be in the signed tree (409 ``not_yet_logged``) are
retried once against a newer checkpoint, after the ``retry_after`` the server
asked for (at most 10 s): the server's worker sequences them meanwhile. Older
than ``--max-pending-age`` seconds and still missing is a failure, and so is one
the server says it held out of the log (409 ``log_quarantined``). A log with no
signed head yet (a fresh server whose worker has not run) is waited for the
same way, then "could not run". Exit status: 0 all verified, 1 a check failed, 2 could not run.
The state file is only updated after a fully successful audit.

Standard library + ``cryptography`` + ledger.log.merkle/leaf/checkpoint (pure
modules): no Django, no project settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.log import merkle
from ledger.log.checkpoint import (
    Checkpoint,
    NoteError,
    Verifier,
    open_checkpoint,
    parse_verifier_key,
)
from ledger.log.leaf import LeafError, leaf_hash_of_text, leaf_text_from_listing

API = "/api/v1"
PAGE_SIZE = 200
MAX_PAGES = 100_000
MAX_RETRY_WAIT_S = 10.0
HEAD_ATTEMPTS = 4


class AuditError(Exception):
    """The audit could not run (network, authentication, malformed responses)."""


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verified: int = 0
    retry_after: float = 0.0  # the longest wait the server asked for, for the pending ones

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def note(self, message: str) -> None:
        self.notes.append(message)


class Client:
    def __init__(self, base_url: str, key: str, *, timeout: float = 30.0):
        self.base = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def get(self, path: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
        url = path if path.startswith(("http://", "https://")) else self.base + path
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        for attempt in range(4):
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.key}",
                                                           "Accept": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the URL is the operator's
                    return response.status, json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                body = exc.read().decode("utf-8", "replace")
                if exc.code in (429, 503) and attempt < 3:
                    time.sleep(min(float(exc.headers.get("Retry-After") or 1), 10))
                    continue
                try:
                    return exc.code, json.loads(body)
                except ValueError:
                    return exc.code, {"error": {"code": "unknown", "message": body[:200]}}
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise AuditError(f"GET {url}: {exc}") from None
        raise AuditError(f"GET {url}: still rate limited")

    def get_ok(self, path: str, params: dict[str, Any] | None = None) -> Any:
        status, body = self.get(path, params)
        if status != 200:
            message = body.get("error", {}).get("message") if isinstance(body, dict) else None
            raise AuditError(f"GET {path} answered {status}: {message or body}")
        return body


# --- checkpoints --------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedHead:
    checkpoint: Checkpoint
    note: str

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root


def _error_code(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _retry_after(body: Any) -> float:
    try:
        return min(max(float(body["error"]["retry_after"]), 0.0), MAX_RETRY_WAIT_S)
    except (KeyError, TypeError, ValueError):
        return 1.0


def _get_head(client: Client) -> dict[str, Any]:
    """The latest tree head; a log with none signed yet is waited for a little."""
    for attempt in range(HEAD_ATTEMPTS):
        status, body = client.get(f"{API}/ledger/tree-head")
        if status == 200:
            return body
        if status != 409 or _error_code(body) != "not_yet_logged" or attempt == HEAD_ATTEMPTS - 1:
            break
        time.sleep(_retry_after(body))
    message = body.get("error", {}).get("message") if isinstance(body, dict) else None
    raise AuditError(f"GET {API}/ledger/tree-head answered {status}: {message or body}")


def _fetch_head(client: Client, verifier: Verifier, report: Report, head: dict[str, Any] | None = None
                ) -> SignedHead | None:
    head = head if head is not None else _get_head(client)
    try:
        checkpoint = open_checkpoint(head["checkpoint"], verifier)
    except (NoteError, KeyError, TypeError) as exc:
        report.fail(f"tree head: the checkpoint does not verify with {verifier.key_string}: {exc}")
        return None
    if head.get("size") != checkpoint.size or head.get("root_hash") != checkpoint.root.hex():
        report.fail("tree head: its size/root_hash fields disagree with the signed checkpoint")
    return SignedHead(checkpoint, head["checkpoint"])


def _check_consistency(client: Client, old: SignedHead | Checkpoint, new: SignedHead, report: Report) -> bool:
    if new.size < old.size:
        report.fail(f"log rolled back: signed size {new.size} is smaller than the {old.size} seen before")
        return False
    if new.size == old.size:
        if new.root != old.root:
            report.fail(f"log forked: two different signed roots for size {new.size}")
            return False
        return True
    status, body = client.get(f"{API}/ledger/proofs/consistency", {"first": old.size, "second": new.size})
    if status != 200:
        report.fail(f"consistency {old.size} → {new.size}: the server answered {status}")
        return False
    try:
        proof = [bytes.fromhex(h) for h in body["proof"]]
        merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
    except (merkle.ProofError, KeyError, TypeError, ValueError) as exc:
        report.fail(f"consistency {old.size} → {new.size}: the new log does not extend the old one ({exc})")
        return False
    return True


# --- transactions -------------------------------------------------------------------------


def _list_transactions(client: Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    url: str | None = f"{API}/ledger/transactions?limit={PAGE_SIZE}"
    for _ in range(MAX_PAGES):
        if url is None:
            return out
        page = client.get_ok(url)
        for txn in page.get("results", []):
            if txn.get("id") not in seen:
                seen.add(txn.get("id"))
                out.append(txn)
        url = page.get("next")
    raise AuditError("the transaction listing does not end")


def _check_balanced(txn: dict[str, Any], report: Report) -> None:
    net: dict[str, int] = defaultdict(int)
    postings = txn.get("postings") or []
    for p in postings:
        amount = p.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            report.fail(f"transaction {txn['id']}: posting amount {amount!r} is not a non-negative integer")
            return
        net[p.get("currency")] += amount if p.get("side") == "debit" else -amount
    if len(postings) < 2:
        report.fail(f"transaction {txn['id']}: fewer than two postings")
    for currency, value in net.items():
        if value:
            report.fail(f"transaction {txn['id']}: unbalanced in {currency} (debits − credits = {value})")


def _half_up_bps(amount: int, bps: int) -> int:
    return (amount * bps + 5000) // 10000


def _check_royalty(txn: dict[str, Any], report: Report) -> None:
    """Re-do the royalty arithmetic from the inputs the leaf itself carries."""
    meta = txn.get("meta") or {}
    if txn.get("kind") not in ("royalty", "revenue_share") or "total" not in meta:
        return
    tid = txn["id"]
    by_purpose: dict[str, int] = defaultdict(int)
    for p in txn["postings"]:
        sign = 1 if (p["side"] == "debit") == (p["purpose"] == "receivable") else -1
        by_purpose[p["purpose"]] += sign * p["amount"]
    performer = meta.get("performer_amount")
    expected_legs = {"receivable": meta.get("total"), "payable": performer,
                     "pension_health": meta.get("union_amount"), "platform_fee": meta.get("fee_amount")}
    for purpose, amount in expected_legs.items():
        if by_purpose.get(purpose, 0) != (amount or 0):
            report.fail(f"transaction {tid}: {purpose} postings total {by_purpose.get(purpose, 0)}, "
                        f"its breakdown says {amount}")
    try:
        if meta["total"] != performer + meta["union_amount"] + meta["fee_amount"]:
            report.fail(f"transaction {tid}: total is not performer + P&H + fee")
        if meta["fee_amount"] != _half_up_bps(performer, meta["fee_bps"]):
            report.fail(f"transaction {tid}: fee is not {meta['fee_bps']} bps of the performer's amount")
        ph = 0 if meta["ph_bps"] is None else _half_up_bps(performer, meta["ph_bps"])
        if meta["union_amount"] != ph:
            report.fail(f"transaction {tid}: P&H is not {meta['ph_bps']} bps of the performer's amount")
        if txn["kind"] == "royalty":
            if meta["billed_seconds"] != -(-meta["duration_ms"] // 1000):
                report.fail(f"transaction {tid}: billed seconds are not the started seconds of the duration")
            if performer != meta["per_render"] + meta["per_second"] * meta["billed_seconds"]:
                report.fail(f"transaction {tid}: performer amount is not per_render + per_second × seconds")
        else:
            if performer != _half_up_bps(meta["gross"], meta["revenue_share_bps"]):
                report.fail(f"transaction {tid}: revenue share is not {meta['revenue_share_bps']} bps of gross")
    except (KeyError, TypeError) as exc:
        report.fail(f"transaction {tid}: royalty breakdown is incomplete ({exc})")


def _created_at(txn: dict[str, Any]) -> datetime | None:
    try:
        return datetime.strptime(txn["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except (KeyError, TypeError, ValueError):
        return None


def _check_inclusion(client: Client, txn: dict[str, Any], checkpoint: SignedHead, leaf_owner: dict[int, str],
                     report: Report) -> str:
    """'ok', 'pending' or 'failed'."""
    tid = txn["id"]
    try:
        text = leaf_text_from_listing(txn)
    except (LeafError, TypeError) as exc:
        report.fail(f"transaction {tid}: cannot rebuild its leaf from the listing ({exc})")
        return "failed"
    status, proof = client.get(f"{API}/ledger/proofs/inclusion", {"transaction": tid, "tree_size": checkpoint.size})
    if status == 409 and _error_code(proof) == "not_yet_logged":
        report.retry_after = max(report.retry_after, _retry_after(proof))
        return "pending"
    if status == 409 and _error_code(proof) == "log_quarantined":
        report.fail(f"transaction {tid}: committed but held out of the log by the server (quarantined)")
        return "failed"
    if status != 200:
        report.fail(f"transaction {tid}: no inclusion proof (HTTP {status})")
        return "failed"
    try:
        index, served_hash = proof["leaf_index"], bytes.fromhex(proof["leaf_hash"])
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        if proof["tree_size"] != checkpoint.size:
            raise ValueError("proof for another tree size")
    except (KeyError, TypeError, ValueError) as exc:
        report.fail(f"transaction {tid}: malformed inclusion proof ({exc})")
        return "failed"
    if leaf_owner.setdefault(index, tid) != tid:
        report.fail(f"transaction {tid}: claims leaf {index}, already proven for {leaf_owner[index]}")
        return "failed"
    ours = leaf_hash_of_text(text)
    try:
        merkle.verify_inclusion(ours, index, checkpoint.size, path, checkpoint.root)
    except merkle.ProofError:
        try:
            merkle.verify_inclusion(served_hash, index, checkpoint.size, path, checkpoint.root)
        except merkle.ProofError as exc:
            report.fail(f"transaction {tid}: inclusion proof of leaf {index} fails against the signed root ({exc})")
        else:
            report.fail(
                f"transaction {tid}: ALTERED after it was logged — the log holds leaf {index} with hash "
                f"{served_hash.hex()[:16]}…, but the transaction as listed now hashes to {ours.hex()[:16]}…"
            )
        return "failed"
    if proof.get("leaf") != text:
        report.fail(f"transaction {tid}: the leaf served with the proof differs from the listed transaction")
        return "failed"
    if txn.get("leaf_index") not in (None, index):
        report.fail(f"transaction {tid}: listed at leaf {txn.get('leaf_index')} but proven at leaf {index}")
        return "failed"
    return "ok"


def _check_balances(client: Client, before: dict[str, Any], transactions: list[dict[str, Any]],
                    report: Report) -> None:
    after = client.get_ok(f"{API}/ledger/balances")
    if after != before:
        report.note("balances: the ledger moved during the audit; balance cross-check skipped")
        return
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for txn in transactions:
        for p in txn.get("postings") or []:
            sums[p["account"]][p["side"] == "credit"] += p["amount"]
    for row in after.get("balances", []):
        debits, credits = sums.get(row["account"], [0, 0])
        if (_exact(row, "debits"), _exact(row, "credits")) != (debits, credits):
            report.fail(f"balance of {row['account']} ({row['purpose']} {row['currency']}): server says "
                        f"debits {row['debits']}, credits {row['credits']}; the visible postings sum to "
                        f"{debits}, {credits}")


def _exact(row: dict[str, Any], name: str) -> int | None:
    """A money figure: its exact decimal-string twin where served (any size), else the number."""
    try:
        return int(row[f"{name}_exact"]) if f"{name}_exact" in row else row[name]
    except (TypeError, ValueError):
        return None


# --- the audit ----------------------------------------------------------------------------


def _load_state(path: str | None) -> dict[str, Any]:
    if not path or not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
    except (OSError, ValueError) as exc:
        raise AuditError(f"state file {path}: {exc}") from None
    if not isinstance(state, dict):
        raise AuditError(f"state file {path}: not a JSON object")
    return state


def _save_state(path: str, state: dict[str, Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".audit-state-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def audit(*, url: str, key: str, state_path: str | None = None, verifier_key: str | None = None,
          max_pending_age: float = 600.0, out=sys.stdout, client: Client | None = None) -> Report:
    """Audit the ledger at ``url`` as the party of ``key``. ``client``: another way to
    reach the API (``web.audit`` passes one calling the views in-process)."""
    report = Report()
    client = client or Client(url, key)
    state = _load_state(state_path)

    head = _get_head(client)
    pinned = verifier_key or state.get("verifier_key")
    if pinned is None:
        pinned = head.get("verifier_key")
        report.note(f"trusting the log key on first use: {pinned} (pass --verifier-key to check it out of band)")
    elif head.get("verifier_key") != pinned:
        report.fail(f"the log presents key {head.get('verifier_key')}, not the trusted {pinned}")
    try:
        verifier = parse_verifier_key(pinned or "")
    except NoteError as exc:
        raise AuditError(f"verifier key: {exc}") from None

    checkpoint = _fetch_head(client, verifier, report, head)
    if checkpoint is None:
        return report
    print(f"checkpoint: {checkpoint.checkpoint.origin} size {checkpoint.size} root {checkpoint.root.hex()} "
          f"(signed by {verifier.key_string})", file=out)
    if state.get("checkpoint"):
        try:
            previous = open_checkpoint(state["checkpoint"], verifier)
        except NoteError as exc:
            report.fail(f"the checkpoint in the state file does not verify: {exc}")
            return report
        if _check_consistency(client, previous, checkpoint, report):
            print(f"consistent with the previous checkpoint of size {previous.size}", file=out)

    balances_before = client.get_ok(f"{API}/ledger/balances")
    transactions = _list_transactions(client)
    leaf_owner: dict[int, str] = {}
    pending = []
    for txn in transactions:
        _check_balanced(txn, report)
        _check_royalty(txn, report)
        outcome = _check_inclusion(client, txn, checkpoint, leaf_owner, report)
        if outcome == "ok":
            report.verified += 1
        elif outcome == "pending":
            pending.append(txn)
    if pending:  # the server's worker logs them shortly: prove them under a newer, consistent head
        time.sleep(report.retry_after)
        newer = _fetch_head(client, verifier, report)
        if newer is not None and _check_consistency(client, checkpoint, newer, report):
            checkpoint = newer
            still = []
            for txn in pending:
                outcome = _check_inclusion(client, txn, checkpoint, leaf_owner, report)
                if outcome == "ok":
                    report.verified += 1
                elif outcome == "pending":
                    still.append(txn)
            pending = still
    now = datetime.now(UTC)
    for txn in pending:
        created = _created_at(txn)
        if created is None or (now - created).total_seconds() > max_pending_age:
            report.fail(f"transaction {txn['id']}: not in the signed log, and {txn.get('created_at')} is more "
                        f"than {max_pending_age:.0f} s ago")
        else:
            report.note(f"transaction {txn['id']}: too recent for the signed log; check again later")
    _check_balances(client, balances_before, transactions, report)

    print(f"transactions: {len(transactions)} visible, {report.verified} verified in the log, "
          f"{len(pending)} pending", file=out)
    if state_path and not report.problems:
        _save_state(state_path, {
            "url": url, "origin": checkpoint.checkpoint.origin, "verifier_key": verifier.key_string,
            "checkpoint": checkpoint.note, "size": checkpoint.size, "root_hash": checkpoint.root.hex(),
            "audited_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        })
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledger.audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="base URL of the Doppel service")
    parser.add_argument("--key", default=os.environ.get("DOPPEL_API_KEY"),
                        help="API key of the party auditing (default: $DOPPEL_API_KEY)")
    parser.add_argument("--state", help="JSON file remembering the last verified checkpoint and the log key")
    parser.add_argument("--verifier-key", help="the log's note verifier key, obtained out of band")
    parser.add_argument("--max-pending-age", type=float, default=600.0,
                        help="seconds after which a transaction must be in the signed log (default 600)")
    args = parser.parse_args(argv)
    if not args.key:
        parser.error("--key (or DOPPEL_API_KEY) is required")
    try:
        report = audit(url=args.url, key=args.key, state_path=args.state, verifier_key=args.verifier_key,
                       max_pending_age=args.max_pending_age)
    except AuditError as exc:
        print(f"audit could not run: {exc}", file=sys.stderr)
        return 2
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if report.problems:
        print(f"AUDIT FAILED: {len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    print("AUDIT PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
