"""RFC 9162 §2.1 (= RFC 6962 §2.1) Merkle tree hashing, proofs and their verification.

Pure functions over bytes and integers: no Django, no I/O. The auditor CLI
(``ledger/audit.py``) imports this module on its own, so it must stay that way.

Leaf hash ``SHA-256(0x00 ‖ leaf)``, node hash ``SHA-256(0x01 ‖ left ‖ right)``,
the empty tree's root is ``SHA-256("")``.

How the server builds proofs without a tree in memory
-----------------------------------------------------
Every hash a proof needs is the root of some range ``D[lo:hi]`` of the leaves,
and every range that RFC 9162's PATH/SUBPROOF recursion visits starts at a
multiple of the largest power of two not above its size. Such a range splits
into at most log2(n) *perfect* subtrees (sizes from the binary digits of
``hi - lo``). The sequencer stores the hash of every perfect subtree once, as
it completes (``LogNode``), so a proof is: compute the ranges (pure, below),
fetch their perfect subtrees in one query, fold them. That is O(log n) rows
whatever the tree size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not verify, or its parameters are impossible."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n ≥ 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


# --- ranges a proof is made of --------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose roots form PATH(index, D[0:size]), leaf side first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    path: list[tuple[int, int]] = []
    lo, hi, m = 0, size, index
    # Walk down from the root, then reverse: RFC 9162 lists the path bottom-up.
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The ranges whose roots form PROOF(first, D[0:second]) (RFC 9162 §2.1.4.1)."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    out: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, second, first, True
    tail: list[tuple[int, int]] = []
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                out.append((lo, hi))
            break
        k = _split(n)
        if m <= k:
            tail.append((lo + k, hi))
            hi = lo + k
        else:
            tail.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    out.extend(reversed(tail))
    return out


def perfect_subtrees(lo: int, hi: int) -> list[tuple[int, int]]:
    """``D[lo:hi]`` as perfect subtrees ``(level, index)``, left to right.

    A subtree ``(level, index)`` covers leaves ``[index·2^level, (index+1)·2^level)``.
    """
    if not 0 <= lo < hi:
        raise ProofError(f"empty or negative range [{lo}, {hi})")
    out = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        while lo % (1 << level):
            level -= 1
        out.append((level, lo >> level))
        lo += 1 << level
    return out


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """Root of a range from its perfect subtrees (largest first), as RFC 9162 nests them."""
    if not hashes:
        raise ProofError("nothing to fold")
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _check_aligned(lo: int, hi: int) -> None:
    level = (hi - lo).bit_length() - 1
    if lo % (1 << level):
        raise ProofError(f"range [{lo}, {hi}) is not one a proof is made of")


def range_roots(
    ranges: Iterable[tuple[int, int]],
    fetch: Callable[[set[tuple[int, int]]], dict[tuple[int, int], bytes]],
) -> list[bytes]:
    """Roots of ``ranges``, with every stored node fetched by one call of ``fetch``.

    ``fetch`` receives the set of perfect subtrees ``(level, index)`` needed and
    returns their hashes; a missing one raises ``ProofError``.
    """
    ranges = list(ranges)
    plans = []
    for lo, hi in ranges:
        _check_aligned(lo, hi)
        plans.append(perfect_subtrees(lo, hi))
    wanted = {node for plan in plans for node in plan}
    found = fetch(wanted) if wanted else {}
    missing = wanted - found.keys()
    if missing:
        raise ProofError(f"the log is missing stored subtrees {sorted(missing)[:4]}")
    return [fold_right([found[node] for node in plan]) for plan in plans]


# --- reference computation (small trees, tests, the sequencer's frontier) ----------------


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, straight from the RFC recursion (O(n) memory)."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(root_from_leaf_hashes(hashes[:k]), root_from_leaf_hashes(hashes[k:]))


class CompactRange:
    """The right edge of a growing tree: one hash per perfect subtree of ``[0, size)``.

    Appending leaf hashes yields every perfect subtree that completes, which is
    exactly what the sequencer stores.
    """

    def __init__(self, size: int, frontier: Sequence[bytes]):
        expected = perfect_subtrees(0, size) if size else []
        if len(expected) != len(frontier):
            raise ProofError(f"a tree of size {size} has {len(expected)} frontier nodes, got {len(frontier)}")
        self.size = size
        self._stack: list[tuple[int, int, bytes]] = [
            (level, index, h) for (level, index), h in zip(expected, frontier, strict=True)
        ]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the perfect subtrees it completes (leaf included)."""
        created = [(0, self.size, leaf)]
        self._stack.append(created[0])
        self.size += 1
        while len(self._stack) >= 2 and self._stack[-1][0] == self._stack[-2][0]:
            level, _, right = self._stack.pop()
            _, left_index, left = self._stack.pop()
            merged = (level + 1, left_index >> 1, node_hash(left, right))
            self._stack.append(merged)
            created.append(merged)
        return created

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        return fold_right([h for _, _, h in self._stack])


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D) computed from all leaf hashes (for tests and small trees)."""
    return [root_from_leaf_hashes(leaves[lo:hi]) for lo, hi in inclusion_ranges(index, len(leaves))]


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(first, D) computed from all leaf hashes (for tests and small trees)."""
    return [root_from_leaf_hashes(leaves[lo:hi]) for lo, hi in consistency_ranges(first, len(leaves))]


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ----------------------------------------


def root_from_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root that ``path`` proves ``leaf`` (a leaf *hash*) is at ``index`` under."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if len(p) != HASH_SIZE:
            raise ProofError("audit path element is not a SHA-256 hash")
        if sn == 0:
            raise ProofError("audit path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("audit path is shorter than the tree is deep")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> None:
    """Raise ``ProofError`` unless ``path`` proves ``leaf`` at ``index`` in the tree with ``root``."""
    if root_from_inclusion(leaf, index, size, path) != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the root of size {size}")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ``ProofError`` unless the tree of size ``second`` extends the one of size ``first``."""
    if not 0 <= first <= second:
        raise ProofError(f"size {first} cannot precede size {second}")
    if first == second:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if first_root != second_root:
            raise ProofError(f"two different roots for the same size {first}")
        return
    if first == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    if any(len(p) != HASH_SIZE for p in proof):
        raise ProofError("consistency proof element is not a SHA-256 hash")
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != first_root:
        raise ProofError(f"consistency proof does not reproduce the old root of size {first}")
    if sr != second_root:
        raise ProofError(f"consistency proof does not reproduce the new root of size {second}")
