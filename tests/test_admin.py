"""Every model has an admin page, and staff can open every changelist."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

PROJECT_APPS = ("rights", "ledger", "gateway", "provenance")


def project_models():
    return [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS]


def test_every_project_model_is_registered():
    missing = [m.__name__ for m in project_models() if m not in admin.site._registry]
    assert missing == []


@pytest.mark.django_db
def test_staff_can_open_every_changelist(admin_client, cast):
    from tests.factories import make_contract

    make_contract(cast.brand, cast.performer)
    for model in project_models():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        resp = admin_client.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
