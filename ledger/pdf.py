"""HTML to PDF with WeasyPrint, fetching nothing.

WeasyPrint lays text out with Debian's pango (``scripts/setup.sh`` installs it). The
documents we print are self-contained (inline CSS, system fonts): any URL in them —
a stylesheet, an image, a font — is a bug or an injection, so the fetcher refuses
every URL and the rendering stops (``PdfFetchRefused``) rather than reaching out.
"""

from __future__ import annotations

from typing import Any


class PdfFetchRefused(RuntimeError):
    """The document named a URL; documents printed here must fetch nothing."""


def _weasyprint():
    """Import WeasyPrint without its process-wide side effect: at import it sets Pillow's
    ``ImageFile.LOAD_TRUNCATED_IMAGES = True``, which would make every later image load
    in the process (portraits, verify frames) accept truncated files. Our statements
    carry no images, so the flag is put back as it was."""
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import weasyprint
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before
    return weasyprint


def _refusing_fetcher() -> Any:
    URLFetcher = _weasyprint().urls.URLFetcher

    class RefusingFetcher(URLFetcher):
        def __init__(self) -> None:
            # fail_on_errors: a refused fetch stops the rendering instead of a warning.
            super().__init__(allowed_protocols=(), allow_redirects=False, fail_on_errors=True)

        def fetch(self, url: str, headers: Any = None) -> Any:
            raise PdfFetchRefused(f"PDF documents fetch nothing (asked for {url[:200]!r}).")

    return RefusingFetcher()


def html_to_pdf(html: str) -> bytes:
    """``html`` (a complete, self-contained document) as PDF bytes (``%PDF-…``).

    Raises ``weasyprint.urls.FatalURLFetchingError`` (caused by ``PdfFetchRefused``)
    when the document names any URL; ImportError/OSError when WeasyPrint or pango is
    missing (see scripts/setup.sh)."""
    HTML = _weasyprint().HTML  # imported here: only the PDF path pays for it

    return HTML(string=html, base_url=None, url_fetcher=_refusing_fetcher()).write_pdf()
