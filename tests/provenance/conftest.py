"""Shared provenance fixtures: real keys, real c2pa signatures, real H.264 clips."""

from __future__ import annotations

import pytest

from provenance import c2pa_io
from provenance import watermark as wm
from tests.provenance import synthetic

LICENSE = {
    "performer": "pty_performer_ava",
    "brand": "pty_brand_acme",
    "contract": "ctr_0001",
    "generation": "gen_0001",
    "platform": "tiktok",
    "category": "soft_drinks",
    "language": "en",
    "territory": "US",
    "ledger_transaction": "txn_0001",
    "ledger_hold": "hld_0001",
}


@pytest.fixture
def keys_dir(tmp_path, settings):
    """A fresh, empty key store for this test only."""
    path = tmp_path / "keys"
    settings.DOPPEL_KEYS_DIR = path
    return path


@pytest.fixture
def license_dict():
    return dict(LICENSE)


class Marked:
    """A watermarked clip (payload known) in several shapes."""

    def __init__(self, *, height: int, width: int, count: int, seed: int, payload: int):
        self.payload = payload
        self.frames = synthetic.synthetic_frames(
            "astronaut", height=height, width=width, count=count, seed=seed
        )
        self.marked = wm.embed_frames(self.frames, payload)
        self.mp4 = synthetic.encode_video(self.marked, crf=20)

    def signed(self, **license_overrides) -> bytes:
        return c2pa_io.sign_video(
            data=self.mp4,
            mime="video/mp4",
            license={**LICENSE, **license_overrides},
            watermark={"payload": self.payload},
        )


@pytest.fixture(scope="session")
def vertical():
    """24 frames of 720×1280 (the vertical delivery profile), watermarked."""
    return Marked(height=1280, width=720, count=24, seed=11, payload=0x5EED_C0FFEE)


@pytest.fixture(scope="session")
def small():
    """A small 12-frame 256×320 clip for fast C2PA tests."""
    return Marked(height=320, width=256, count=12, seed=3, payload=0x12_3456_789A)


@pytest.fixture(scope="session")
def signed_vertical(vertical):
    return vertical.signed()


@pytest.fixture(autouse=True)
def _no_registered_lookup():
    """The gateway registers a DB-backed payload lookup; provenance tests pass their own."""
    from provenance import verify

    previous = verify.registered_payload_resolver()
    verify.register_payload_resolver(None)
    yield
    verify.register_payload_resolver(previous)
