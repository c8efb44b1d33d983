"""Who may open a page: ``@party_page(*kinds)`` gives the view ``request.party`` — the
party the signed-in person acts for — and applies the API's rules: another kind of
party gets 403, an object of another party is the view's 404 (rights.visibility)."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from web.services import member_party


def party_page(*kinds: str):
    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            party = member_party(request.user)
            if party is None or (kinds and party.kind not in kinds):
                raise PermissionDenied("This page is for another kind of account.")
            request.party = party
            return view(request, *args, **kwargs)

        wrapper.party_kinds = kinds
        return wrapper

    return decorate
