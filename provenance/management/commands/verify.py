"""Print the verification report of a file, as POST /api/v1/verify returns it.

    python manage.py verify clip.mp4
    python manage.py verify frame.jpg --compact

The payload → generation lookup is the one registered with
``provenance.verify.register_payload_resolver`` (the gateway registers it);
without one, a watermark can be found but no generation is named.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from provenance import conf
from provenance.media import MediaError
from provenance.verify import verify_file


class Command(BaseCommand):
    help = (
        "Verify a video or image: Content Credentials, watermark, and the generation it identifies."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--compact", action="store_true", help="one line of JSON")

    def handle(self, *args, file: Path, compact: bool, **options):
        try:
            size = file.stat().st_size
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        limit = conf.verify_max_bytes()
        if size > limit:
            raise CommandError(f"payload_too_large: {file} is {size} bytes; the limit is {limit}")
        try:
            report = verify_file(data=file.read_bytes(), filename=file.name)
        except MediaError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(json.dumps(report, indent=None if compact else 2, default=str))
