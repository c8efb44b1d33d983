"""django-q2 tasks: thin, idempotent, safe to run twice (delivery is at-least-once)."""

from __future__ import annotations

from ledger import services

# Well inside the cluster's task timeout, so a long backlog is drained in slices.
SEQUENCE_BUDGET_BATCHES = 50


def log_sequence_task() -> int:
    """Append queued transactions to the Merkle log. Skips if another sequencer runs."""
    return services.log_sequence(max_batches=SEQUENCE_BUDGET_BATCHES, wait=False)


def holds_sweep_task() -> int:
    """Void holds past their expiry, releasing their quota."""
    return services.holds_sweep()
