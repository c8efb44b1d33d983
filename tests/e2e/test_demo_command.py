"""The README's first command ends in `manage.py demo`: run it for real (its own
data dir and embedded SQLite, gunicorn, a qcluster, a render) and read what it says."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, free_port

pytestmark = pytest.mark.e2e


def run_demo(tmp_path, *args, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOPPEL_") and k != "DATABASE_URL"}
    env.update({"DOPPEL_DATA_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "config.settings",
                "PYTHONUNBUFFERED": "1"})
    return subprocess.run([sys.executable, "manage.py", "demo", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_the_demo_walks_a_generation_through_the_real_system(tmp_path):
    proc = run_demo(tmp_path, "--no-serve", "--port", str(free_port()))
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "Doppel is running" in out and "/api/docs/" in out
    assert "Web sign-in at /accounts/login/" in out and "performer@demo.doppel.local" in out
    assert "POST /api/v1/generations → 202 queued" in out
    assert "delivered in" in out and "royalty (USD minor units): performer 590" in out
    assert "signed clip: C2PA Trusted; watermark found" in out
    assert "manifest stripped: C2PA NoManifest; watermark found" in out
    assert "403 policy_denied: platform_not_allowed, script_category_banned" in out
    assert "payable       590 USD" in out
    # 5. The money moves: onboarding through the local fake Stripe, a transfer, the balance at 0.
    assert "Stripe        local fake Stripe server http://127.0.0.1:" in out
    assert "account.updated received: payouts enabled for both" in out
    assert "brand billed: 1 meter event(s) sent to Stripe Billing" in out
    assert " 590 USD → acct_" in out and " paid, transfer tr_" in out
    assert "GET /api/v1/payouts (performer): 1 payout(s), latest paid" in out
    assert "performer payable balance now 0 USD" in out
    assert "royalties 590, payouts -590, closing balance 0 USD" in out
    assert "reconcile: ledger and Stripe agree" in out
    clips = list((tmp_path / "var" / "demo").glob("gen_*.mp4"))
    assert len(clips) == 1 and clips[0].stat().st_size > 100_000
    # A second run reuses the same world (keys still valid) and makes a second generation.
    again = run_demo(tmp_path, "--no-serve", "--port", str(free_port()))
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert out.split("Demo API keys")[1].split("1. A brand")[0] == again.stdout.split("Demo API keys")[1].split(
        "1. A brand")[0]
    assert len(list((tmp_path / "var" / "demo").glob("gen_*.mp4"))) == 2
    assert "GET /api/v1/payouts (performer): 2 payout(s), latest paid" in again.stdout
    assert "performer payable balance now 0 USD" in again.stdout


@pytest.mark.parametrize("args,message", [(["--port", "eighty"], "invalid int value"),
                                          (["--workers"], "expected one argument"),
                                          (["--bogus"], "unrecognized arguments")])
def test_bad_arguments_are_refused_before_anything_starts(tmp_path, args, message):
    proc = run_demo(tmp_path, *args, timeout=60)
    assert proc.returncode != 0 and message in proc.stderr
    assert not (tmp_path / "var" / "logs").exists()  # no server or worker was started
