"""ledger.log.merkle against the RFC 6962 test vectors of the Certificate Transparency
reference implementation, and against an independent MTH written here from the
RFC text (hashlib only, nothing from the code under test)."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.log import merkle

# certificate-transparency merkle_tree_test.cc (also trillian, transparency-dev/merkle).
CT_LEAVES = [bytes.fromhex(h) for h in
             ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_PATHS = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


def ref_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1, literally: MTH({}) = SHA-256(); MTH({d0}) = SHA-256(0x00 || d0);
    MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of 2 < n."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def hashes_of(leaves):
    return [merkle.leaf_hash(x) for x in leaves]


def test_empty_root_is_sha256_of_nothing():
    assert merkle.root_from_leaf_hashes([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.CompactRange(0, []).root() == merkle.EMPTY_ROOT


@pytest.mark.parametrize("n", range(1, 9))
def test_roots_match_the_ct_vectors(n):
    assert merkle.root_from_leaf_hashes(hashes_of(CT_LEAVES[:n])).hex() == CT_ROOTS[n - 1]
    assert ref_mth(CT_LEAVES[:n]).hex() == CT_ROOTS[n - 1]


@pytest.mark.parametrize(("index", "size", "path"), CT_PATHS)
def test_inclusion_paths_match_the_ct_vectors(index, size, path):
    leaves = hashes_of(CT_LEAVES[:size])
    got = merkle.inclusion_path(index, leaves)
    assert [h.hex() for h in got] == path
    merkle.verify_inclusion(leaves[index], index, size, got, bytes.fromhex(CT_ROOTS[size - 1]))


@pytest.mark.parametrize(("first", "second", "proof"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_ct_vectors(first, second, proof):
    leaves = hashes_of(CT_LEAVES[:second])
    got = merkle.consistency_proof(first, leaves) if first < second else []
    assert [h.hex() for h in got] == proof
    merkle.verify_consistency(first, second, bytes.fromhex(CT_ROOTS[first - 1]),
                              bytes.fromhex(CT_ROOTS[second - 1]), got)


def test_consistency_against_a_wrong_root_is_refused():
    leaves = hashes_of(CT_LEAVES)
    proof = merkle.consistency_proof(6, leaves)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(6, 8, bytes.fromhex(CT_ROOTS[4]), bytes.fromhex(CT_ROOTS[7]), proof)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(6, 8, bytes.fromhex(CT_ROOTS[5]), bytes.fromhex(CT_ROOTS[6]), proof)


def _leaves(n):
    return [f"leaf {i}".encode() for i in range(n)]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_every_path_and_proof_verifies_against_the_reference_root(n, data):
    raw = _leaves(n)
    hashes = hashes_of(raw)
    root = ref_mth(raw)
    assert merkle.root_from_leaf_hashes(hashes) == root
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    merkle.verify_inclusion(hashes[index], index, n, merkle.inclusion_path(index, hashes), root)
    first = data.draw(st.integers(min_value=1, max_value=n))
    proof = merkle.consistency_proof(first, hashes) if first < n else []
    merkle.verify_consistency(first, n, ref_mth(raw[:first]), root, proof)


@pytest.mark.parametrize("n", [2, 3, 5, 7, 8, 13, 64, 100])
def test_a_flipped_bit_a_wrong_index_or_size_fails(n):
    hashes = hashes_of(_leaves(n))
    root = ref_mth(_leaves(n))
    for index in range(n):
        path = merkle.inclusion_path(index, hashes)
        for j in range(len(path)):
            bad = list(path)
            bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(hashes[index], index, n, bad, root)
        for other in (index - 1, index + 1):
            if 0 <= other < n:
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(hashes[index], other, n, path, root)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(hashes[index], index, n, path + [root], root)
        if path:
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(hashes[index], index, n, path[:-1], root)


def test_impossible_parameters_are_refused():
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_ranges(3, 3)
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_ranges(-1, 3)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_ranges(0, 3)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_ranges(4, 3)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(5, 3, b"x" * 32, b"y" * 32, [])
    with pytest.raises(merkle.ProofError):  # equal sizes, different roots: a fork
        merkle.verify_consistency(3, 3, b"x" * 32, b"y" * 32, [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(2, 5, b"x" * 32, b"y" * 32, [])


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=200), st.integers(min_value=1, max_value=200))
def test_compact_range_stores_every_perfect_subtree_and_resumes_from_its_frontier(start, more):
    raw = _leaves(start + more)
    hashes = hashes_of(raw)
    stored = {}
    first = merkle.CompactRange(0, [])
    for h in hashes[:start]:
        for level, index, digest in first.append(h):
            stored[(level, index)] = digest
    frontier = [stored[node] for node in merkle.perfect_subtrees(0, start)] if start else []
    resumed = merkle.CompactRange(start, frontier)
    for h in hashes[start:]:
        for level, index, digest in resumed.append(h):
            stored[(level, index)] = digest
            lo, hi = index << level, (index + 1) << level
            assert digest == ref_mth(raw[lo:hi])
    assert resumed.root() == ref_mth(raw)
    # Every proof is served from stored perfect subtrees alone.
    n = start + more
    for index in {0, n // 2, n - 1}:
        path = merkle.range_roots(merkle.inclusion_ranges(index, n), lambda wanted: {w: stored[w] for w in wanted})
        merkle.verify_inclusion(hashes[index], index, n, path, ref_mth(raw))


def test_range_roots_reports_missing_nodes():
    with pytest.raises(merkle.ProofError, match="missing"):
        merkle.range_roots([(0, 4)], lambda wanted: {})


def test_perfect_subtrees_cover_the_range_in_order():
    assert merkle.perfect_subtrees(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert merkle.perfect_subtrees(8, 13) == [(2, 2), (0, 12)]
    assert merkle.perfect_subtrees(5, 6) == [(0, 5)]
