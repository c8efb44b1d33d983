"""Who may call what: every API method declares its roles with ``@roles``, and
``IsParty`` enforces them (a missing declaration is refused, not open)."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from rights import auth
from rights.auth import ANY_PARTY, IsParty, roles
from rights.models import Party, PartyKind

HANDLERS = ("get", "post", "put", "patch", "delete")


def _api_views(patterns=None, prefix=""):
    """(route, view class) of every view in the URL conf that ``IsParty`` guards."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from _api_views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            cls = getattr(entry.callback, "view_class", None)
            if cls is not None and issubclass(cls, APIView) and IsParty in cls.permission_classes:
                yield prefix + str(entry.pattern), cls


def test_every_api_method_declares_its_roles():
    views = list(_api_views())
    assert len(views) >= 25, views  # the reader found the API
    undeclared = [f"{route} {name.upper()} ({cls.__name__})" for route, cls in views for name in HANDLERS
                  if hasattr(cls, name) and getattr(getattr(cls, name), "allowed_kinds", None) is None]
    assert undeclared == []


def test_declared_roles_are_party_kinds():
    for _, cls in _api_views():
        for name in HANDLERS:
            kinds = getattr(getattr(cls, name, None), "allowed_kinds", ())
            assert set(kinds) <= set(PartyKind.values), (cls, name, kinds)


def test_roles_refuses_what_is_not_a_party_kind():
    with pytest.raises(ValueError):
        roles("admin")
    with pytest.raises(ValueError):
        roles()


class _Undeclared(APIView):
    def get(self, request):
        return Response({"ok": True})


class _BrandsOnly(APIView):
    @roles(PartyKind.BRAND)
    def get(self, request):
        return Response({"ok": True})

    @roles(*ANY_PARTY)
    def post(self, request):
        return Response({"ok": True})


def _call(view, party, method="get"):
    request = getattr(APIRequestFactory(), method)("/x")
    force_authenticate(request, user=party)
    return view.as_view()(request)


@pytest.mark.django_db
def test_a_method_without_declared_roles_is_refused():
    brand = Party.objects.create(kind=PartyKind.BRAND, name="Acme")
    resp = _call(_Undeclared, brand)
    assert resp.status_code == 403 and resp.data["error"]["code"] == "forbidden"


@pytest.mark.django_db
def test_roles_are_per_method():
    brand = Party.objects.create(kind=PartyKind.BRAND, name="Acme")
    performer = Party.objects.create(kind=PartyKind.PERFORMER, name="Ava")
    assert _call(_BrandsOnly, brand).status_code == 200
    refused = _call(_BrandsOnly, performer)
    assert refused.status_code == 403 and refused.data["error"]["code"] == "forbidden"
    assert "brand" in refused.data["error"]["message"]
    assert _call(_BrandsOnly, performer, "post").status_code == 200
    assert _call(_BrandsOnly, performer, "put").status_code == 405  # unknown method: 405, not 403


def test_no_request_is_a_party_without_a_key():
    resp = _BrandsOnly.as_view()(APIRequestFactory().get("/x"))
    assert resp.status_code == 401 and resp.data["error"]["code"] == "unauthenticated"


def test_a_party_is_an_authenticated_user_without_a_monkeypatch():
    party = Party(kind=PartyKind.BRAND, name="Acme")
    assert party.is_authenticated is True and party.is_anonymous is False
    assert isinstance(Party.__dict__["is_authenticated"], property)
    assert not hasattr(auth, "SessionPartyAuthentication")  # the web app will register a real one
