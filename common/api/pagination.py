"""Cursor pagination: stable pages, no OFFSET scans, no duplicates while rows arrive."""

from __future__ import annotations

from base64 import b64decode
from urllib.parse import parse_qs

from django.core.exceptions import ValidationError as DjangoValidationError
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

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model  # decode_cursor checks the position against its ordering field
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """The cursor, or a 400 ``cursor`` error: a cursor is opaque to clients, so one
        that does not decode — or whose position is not a value of the ordering field
        (a forged ``p=notadate``) — is refused before it reaches a query."""
        encoded = request.query_params.get(self.cursor_query_param)
        try:
            cursor = super().decode_cursor(request)
            # A cursor this API wrote always names an offset, a direction or a position.
            if encoded is not None and not {"o", "r", "p"} & set(
                    parse_qs(b64decode(encoded.encode("ascii")).decode("ascii"), keep_blank_values=True)):
                raise exceptions.NotFound
        except (exceptions.NotFound, ValueError, UnicodeError):
            raise InvalidRequest(fields={"cursor": ["Invalid cursor."]}) from None
        if cursor is not None and cursor.position is not None:
            field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
            try:
                field.to_python(cursor.position)
            except (DjangoValidationError, ValueError, TypeError, OverflowError):
                raise InvalidRequest(fields={"cursor": ["Invalid cursor."]}) from None
        return cursor


def paginated_response(*, request, view, queryset, serialize, ordering: tuple[str, ...] | None = None):
    """One page of ``queryset`` as ``{"next", "previous", "results"}``."""
    paginator = CursorishPagination()
    if ordering is not None:
        paginator.ordering = ordering
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serialize(page))
