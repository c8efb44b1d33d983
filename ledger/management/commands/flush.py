"""``flush`` that can empty the ledger's append-only tables on SQLite.

On SQLite the ledger refuses DELETE with triggers (``ledger_*_no_delete``), and
Django's flush deletes row by row — so does every TransactionTestCase (and
pytest-django ``transactional_db`` / ``live_server`` test) when it cleans up.
Wiping the whole database is a deliberate operator act, as is dropping a
trigger: this command lifts those triggers for the wipe only and restores
them from their stored definitions in the same breath. On PostgreSQL flush
uses TRUNCATE, which row triggers do not see, so nothing changes there.
"""

from django.core.management.commands.flush import Command as FlushCommand
from django.db import connections


class Command(FlushCommand):
    help = FlushCommand.help + " (On SQLite, lifts the ledger's no-delete triggers for the wipe.)"

    def handle(self, **options):
        connection = connections[options["database"]]
        if connection.vendor != "sqlite":
            return super().handle(**options)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'ledger%no_delete'"
            )
            saved = cursor.fetchall()
            for name, _ in saved:
                cursor.execute(f'DROP TRIGGER "{name}"')
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                for _, sql in saved:
                    cursor.execute(sql)
