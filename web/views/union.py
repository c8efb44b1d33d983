"""The union's pages (issue 12). URL patterns are listed in ``urlpatterns`` below and
included by web/urls.py."""

from __future__ import annotations

urlpatterns: list = []
