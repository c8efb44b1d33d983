"""A local fake Stripe server for tests and the demo (see ``fakestripe.app`` and docs/fakestripe.md).

Test/demo only: it returns only the fields Doppel reads and is never part of the service.
"""
