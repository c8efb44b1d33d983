"""CSV that spreadsheets open safely, streamed.

``safe_cell(value)``: a text cell starting like a formula (``= + - @``, tab, CR) gets
a leading quote — OWASP "CSV Injection" — so Excel or Sheets shows it instead of
running it; datetimes become ISO 8601 UTC (``…Z``); None is empty.
``csv_stream(header, rows)``: an iterator of CSV lines for a StreamingHttpResponse,
so an export of any size never sits in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else str(value)
    if isinstance(value, str) and text[:1] in FORMULA_START:
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write returns the line: csv.writer as a line generator."""

    def write(self, value: str) -> str:
        return value


def csv_stream(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([safe_cell(v) for v in row])
