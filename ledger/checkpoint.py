"""Moved to ``ledger.log.checkpoint``. Only ``ledger/conf.py`` still imports it from
here (its rewrite for issue 9 item 7 is in other hands); delete this file once
conf.py imports ``ledger.log.checkpoint``."""

from ledger.log.checkpoint import NoteError, check_name

__all__ = ["NoteError", "check_name"]
