"""API-key authentication and party-role permissions.

Keys look like ``dpl_3k9x2m7q.<43 url-safe chars>``: the part before the dot is
the visible, unique prefix used for lookup; only SHA-256 of the whole key is
stored. The secret carries 256 bits of entropy, so a fast hash is the right
tool (no password stretching needed) and comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from rights.models import ApiKey, Party, PartyKind

KEY_PREFIX = "dpl_"
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def generate_key() -> tuple[str, str]:
    """Return (prefix, raw key)."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    prefix = KEY_PREFIX + "".join(secrets.choice(alphabet) for _ in range(8))
    return prefix, f"{prefix}.{secrets.token_urlsafe(32)}"


def key_lookup(raw: str) -> ApiKey | None:
    """The active key matching ``raw``, or None. Constant-time on the secret."""
    if not raw or len(raw) > 200 or "." not in raw:
        return None
    prefix = raw.split(".", 1)[0]
    if not prefix.startswith(KEY_PREFIX) or len(prefix) > 16:
        return None
    # The party's landmarks (tens of KB of JSON) are not needed to authenticate.
    key = ApiKey.objects.select_related("party").defer("party__landmarks").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.hashed, hash_key(raw)):
        return None
    if key.revoked_at is not None:
        return None
    return key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        key = key_lookup(parts[1])
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > _LAST_USED_GRANULARITY:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return (key.party, key)

    def authenticate_header(self, request):
        return 'Bearer realm="doppel"'


def roles(*kinds: str):
    """Declare which kinds of party may call a view method (``@roles(PartyKind.BRAND)``).

    The one way a view says who may call it: ``IsParty`` answers any other kind
    403 ``forbidden`` before the method runs, and refuses a method that declares
    nothing. An action on one object whose rule depends on that object (approve,
    accept, cancel…) declares every kind that may *see* the object, and leaves the
    rest to its service: another party's object must be a 404, not a 403
    (shared/API.md), so visibility is decided first.
    """
    unknown = set(kinds) - set(PartyKind.values)
    if not kinds or unknown:
        raise ValueError(f"roles() takes party kinds ({', '.join(PartyKind.values)}), got {kinds!r}")

    def declare(method):
        method.allowed_kinds = tuple(PartyKind(kind).value for kind in kinds)
        return method

    return declare


# ``@roles(*ANY_PARTY)``: every kind of party (visibility still decides what it sees).
ANY_PARTY = tuple(PartyKind.values)


class IsParty(permissions.BasePermission):
    """An API key's party, of a kind the view method declares with ``@roles``."""

    message = "Authentication required."

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.user, Party):
            raise exceptions.NotAuthenticated("Authentication required: 'Authorization: Bearer <api key>'.")
        handler = getattr(view, request.method.lower(), None)
        if handler is None or request.method == "OPTIONS":
            return True  # 405 for an unknown method; OPTIONS describes, changes nothing
        allowed = getattr(handler, "allowed_kinds", None)
        if allowed is None:
            raise exceptions.PermissionDenied(f"{type(view).__name__}.{request.method.lower()} declares no @roles.")
        if request.user.kind not in allowed:
            raise exceptions.PermissionDenied(
                f"This operation is for {' or '.join(allowed)} keys; yours belongs to a {request.user.kind}."
            )
        return True
