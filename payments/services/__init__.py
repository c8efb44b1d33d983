"""Payments: writes by concern (reads are small enough to live beside them).

* ``onboarding``: payees connect a Stripe Connect Express account;
* ``payouts``: payout runs, the reserve → transfer → post protocol, reversals;
* ``billing``: meter reports, invoices, credit limits and flags;
* ``events``: Stripe webhook intake and processing;
* ``reconcile``: the ledger compared with Stripe, crash cases repaired.
"""
