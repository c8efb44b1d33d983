"""Closed vocabularies of the public API (shared/API.md "Vocabularies").

Operators can extend the platform list with ``DOPPEL_EXTRA_PLATFORMS``.
Languages, territories and currencies are ISO code lists kept in
``rights/data/iso.json`` so that validation needs no network and no library.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from django.conf import settings

BASE_PLATFORMS = (
    "tiktok", "capcut", "douyin", "instagram", "facebook", "youtube", "x", "snapchat",
    "taobao_live", "kuaishou", "web", "tv", "print",
)

CATEGORIES = (
    "soft_drinks", "food", "fashion", "beauty", "apps_games", "entertainment", "travel",
    "education", "automotive", "electronics", "household", "finance", "supplements",
    "sexual_health", "gambling", "alcohol", "tobacco_vaping", "weapons", "political",
    "religious", "adult", "crypto_investment", "pharmaceuticals", "weight_loss", "dating",
)

CATEGORY_SET = frozenset(CATEGORIES)


@cache
def _iso() -> dict[str, frozenset[str]]:
    data = json.loads((Path(__file__).parent / "data" / "iso.json").read_text(encoding="utf-8"))
    return {key: frozenset(values) for key, values in data.items() if not key.startswith("_")}


def platforms() -> tuple[str, ...]:
    """The base platforms, then settings.DOPPEL_EXTRA_PLATFORMS (read once at start)."""
    return _platforms(tuple(settings.DOPPEL_EXTRA_PLATFORMS))


@cache
def _platforms(extra: tuple[str, ...]) -> tuple[str, ...]:
    return BASE_PLATFORMS + tuple(dict.fromkeys(p for p in extra if p not in BASE_PLATFORMS))


def languages() -> frozenset[str]:
    return _iso()["languages"]


def territories() -> frozenset[str]:
    return _iso()["territories"]


def currencies() -> frozenset[str]:
    return _iso()["currencies"]

