"""Cursor pagination: stable pages, no OFFSET scans, no duplicates while rows arrive."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination

from common.errors import InvalidRequest


class CursorishPagination(CursorPagination):
    ordering = ("-created_at", "id")
    page_size_query_param = "limit"
    max_page_size = 200

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            value = int(raw)
        except ValueError:
            raise InvalidRequest(fields={"limit": ["Must be an integer."]}) from None
        if not 1 <= value <= self.max_page_size:
            raise InvalidRequest(fields={"limit": [f"Must be between 1 and {self.max_page_size}."]})
        return value

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise InvalidRequest(fields={"cursor": ["Invalid cursor."]}) from None


def paginated_response(*, request, view, queryset, serialize, ordering: tuple[str, ...] | None = None):
    """One page of ``queryset`` as ``{"next", "previous", "results"}``."""
    paginator = CursorishPagination()
    if ordering is not None:
        paginator.ordering = ordering
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serialize(page))
