"""The ledger's django-q2 jobs: registered idempotently, thin wrappers over services."""

from datetime import timedelta

from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from ledger import schedules, services, tasks
from ledger.log import sequencer
from ledger.models import Hold, LogLeaf


def test_schedules_are_registered_once_and_point_at_real_functions(db):
    names = schedules.ensure_schedules()
    assert schedules.ensure_schedules() == names
    rows = Schedule.objects.filter(name__in=names)
    assert rows.count() == 2
    for row in rows:
        assert callable(import_string(row.func))
        assert (row.schedule_type, row.minutes, row.repeats) == (Schedule.MINUTES, 1, -1)


def test_the_tasks_sequence_and_sweep(world, post, key):
    post(world.contract)
    assert tasks.log_sequence_task() == 1 and LogLeaf.objects.count() == 1
    assert tasks.log_sequence_task() == 0
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(),
                                expires_at=timezone.now() + timedelta(seconds=61))
    assert tasks.holds_sweep_task() == 0
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.holds_sweep_task() == 1
    assert Hold.objects.get(pk=hold.pk).status == "voided"


def test_a_posting_nudges_the_sequencer_at_most_once_per_interval(world, post, settings, django_capture_on_commit_callbacks):
    from django_q.models import OrmQ

    settings.DOPPEL_LEDGER_SEQUENCE_NUDGE = True
    settings.DOPPEL_LEDGER_SEQUENCE_NUDGE_MS = 60_000
    sequencer._last_nudge[0] = 0.0
    with django_capture_on_commit_callbacks(execute=True):
        post(world.contract)
        post(world.contract)
    assert OrmQ.objects.count() == 1
    settings.DOPPEL_LEDGER_SEQUENCE_NUDGE = False
    sequencer._last_nudge[0] = 0.0
    with django_capture_on_commit_callbacks(execute=True):
        post(world.contract)
    assert OrmQ.objects.count() == 1
