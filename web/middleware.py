"""Two-factor sign-in is required for union auditors and staff: until they have set
up TOTP, every page but the set-up itself and sign-out sends them to it."""

from __future__ import annotations

from django.shortcuts import redirect
from django.urls import reverse

from web.services import mfa_required

ALLOWED_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/static/", "/api/", "/stripe/", "/verify")


class RequireMFAMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False) and \
                not request.path.startswith(ALLOWED_PREFIXES) and mfa_required(user) and not _has_totp(user):
            return redirect(reverse("mfa_activate_totp") + "?required=1")
        return self.get_response(request)


def _has_totp(user) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
