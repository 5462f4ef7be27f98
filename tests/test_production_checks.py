"""APP_ENV=production refuses to start without the secrets and allowlists that docs/api.md names (Callers)."""

import os
import subprocess
import sys

import pytest

from autoflow.checks import production_configuration
from scripts.common import REPO

GOOD = {
    "APP_ENV": "production",
    "WEBHOOK_API_KEY": "wk_" + "a1b2c3d4" * 6,
    "AUTOFLOW_ADMIN_API_KEY": "ak_" + "e5f6a7b8" * 6,
    "DJANGO_SECRET_KEY": "Zx8#kQ2!pL5@mN7$vB3%cX9^jH4&gF6*dS1(aW0)eR8_tY2+uI5",
    "CORS_ORIGINS": "https://crm.example.com",
    "DJANGO_ALLOWED_HOSTS": "autoflow.example.com",
}


@pytest.fixture
def production(settings):
    settings.APP_ENV = "production"
    settings.DEBUG = False
    settings.WEBHOOK_API_KEY = GOOD["WEBHOOK_API_KEY"]
    settings.AUTOFLOW_ADMIN_API_KEY = GOOD["AUTOFLOW_ADMIN_API_KEY"]
    settings.SECRET_KEY = GOOD["DJANGO_SECRET_KEY"]
    settings.CORS_ORIGINS = ["https://crm.example.com"]
    settings.ALLOWED_HOSTS = ["autoflow.example.com"]
    return settings


def _ids() -> list[str]:
    return sorted(error.id for error in production_configuration())


def test_a_complete_production_configuration_passes(production):
    assert _ids() == []


def test_development_is_not_held_to_production_rules(settings):
    settings.APP_ENV = "development"
    settings.WEBHOOK_API_KEY = ""
    assert _ids() == []


@pytest.mark.parametrize(
    ("setting", "value", "error"),
    [
        ("WEBHOOK_API_KEY", "", "autoflow.E001"),
        ("AUTOFLOW_ADMIN_API_KEY", "", "autoflow.E002"),
        ("SECRET_KEY", "django-insecure-autoflow-development-only", "autoflow.E003"),
        ("SECRET_KEY", "short", "autoflow.E003"),
        ("CORS_ORIGINS", ["*"], "autoflow.E004"),
        ("CORS_ORIGINS", [], "autoflow.E004"),
        ("ALLOWED_HOSTS", [], "autoflow.E005"),
        ("ALLOWED_HOSTS", ["*"], "autoflow.E005"),
        ("DEBUG", True, "autoflow.E006"),
    ],
)
def test_each_missing_or_weak_setting_is_refused(production, setting, value, error):
    setattr(production, setting, value)
    assert _ids() == [error]


def _start(env_overrides: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in GOOD}
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "autoflow.settings"
    return subprocess.run([sys.executable, *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_management_commands_and_the_worker_refuse_a_bad_production_config():
    result = _start({"APP_ENV": "production"}, "manage.py", "check")
    assert result.returncode != 0
    for code in ("autoflow.E001", "autoflow.E002", "autoflow.E003", "autoflow.E004", "autoflow.E005"):
        assert code in result.stderr


def test_the_web_server_entry_point_refuses_a_bad_production_config():
    result = _start({"APP_ENV": "production"}, "-c", "import autoflow.asgi")
    assert result.returncode != 0
    assert "AutoFlow refuses to start" in result.stderr
    assert "autoflow.E001" in result.stderr


def test_a_good_production_config_starts():
    result = _start(GOOD, "-c", "import autoflow.asgi; print('loaded')")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded"
    check = _start(GOOD, "manage.py", "check")
    assert check.returncode == 0, check.stderr
