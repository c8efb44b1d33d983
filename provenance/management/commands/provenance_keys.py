"""Create, show or rotate the Content Credentials signing keys and the watermark key.

python manage.py provenance_keys                 # create on first use (no-op if present), print summary
python manage.py provenance_keys --show          # print the summary as JSON
python manage.py provenance_keys --rotate        # new signing key + certificate under the same root
python manage.py provenance_keys --rotate --public-key kms.pem
                                                 # certificate for a KMS/HSM key (sign via DOPPEL_SIGNER_CALLBACK)
python manage.py provenance_keys --export-root   # print the root certificate (the trust anchor) as PEM
python manage.py provenance_keys --rotate-watermark
                                                 # new secret watermark key for new renders; clips
                                                 # marked with older keys are still detected
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management.base import BaseCommand, CommandError

from provenance import keys


class Command(BaseCommand):
    help = "Create, show or rotate the C2PA signing keys and certificates, and the watermark key."

    def add_arguments(self, parser):
        parser.add_argument(
            "--show", action="store_true", help="print the key store summary as JSON"
        )
        parser.add_argument(
            "--rotate", action="store_true", help="issue a new signing certificate and use it"
        )
        parser.add_argument(
            "--public-key",
            type=Path,
            help="with --rotate: PEM public key (P-256) of an external KMS/HSM key to certify",
        )
        parser.add_argument(
            "--export-root", action="store_true", help="print the root CA certificate (PEM)"
        )
        parser.add_argument(
            "--rotate-watermark",
            action="store_true",
            help="make a new secret watermark key for new renders (old keys stay for detection)",
        )

    def handle(
        self,
        *args,
        show: bool,
        rotate: bool,
        public_key: Path | None,
        export_root: bool,
        rotate_watermark: bool,
        **options,
    ):
        if public_key and not rotate:
            raise CommandError("--public-key only makes sense with --rotate")
        keys.ensure_keys()
        if rotate_watermark:
            key = keys.rotate_watermark_key()
            self.stderr.write(f"new watermark key {key.id} (new renders use it; older keys still detect)")
        if rotate:
            external = None
            if public_key:
                try:
                    external = serialization.load_pem_public_key(public_key.read_bytes())
                except (OSError, ValueError) as exc:
                    raise CommandError(f"cannot read {public_key}: {exc}") from exc
                if not isinstance(external, ec.EllipticCurvePublicKey):
                    raise CommandError("the public key must be an EC P-256 key")
            try:
                identity = keys.rotate_signing_key(public_key=external)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stderr.write(
                f"new signing certificate {identity.name} (external key: {identity.external})"
            )
        if export_root:
            self.stdout.write(keys.root_pem().decode("ascii"), ending="")
            return
        summary = keys.describe()
        if show or rotate or rotate_watermark:
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            self.stdout.write(
                f"keys in {summary['keys_dir']}: root {summary['root']['sha256'][:16]}…, "
                f"current {summary['current']} ({len(summary['signing'])} signing certificate(s)); "
                f"watermark key {summary['watermark']['current']} "
                f"({len(summary['watermark']['keys'])} key(s))"
            )
