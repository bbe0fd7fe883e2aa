"""Start-up refusals: MVC_ENV=production refuses each unsafe embedded default, naming the setting; bad media settings too."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import settings
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
SAFE = {
    "MVC_ENV": "production",
    "MVC_SECRET_KEY": "a-long-random-production-key",
    "MVC_MEDIA_SECRET": "a-long-random-media-secret",
    "MVC_DATABASE_URL": "postgresql+psycopg://mvc@db.example.dk/mvc",
    "MVC_SMS_BACKEND": "twilio",
    "MVC_MAIL_BACKEND": "smtp",
    "MVC_SECURE_COOKIES": "1",
    "MVC_PUBLIC_URL": "https://video.example.dk",
}
# Each unsafe default: the environment without the safe choice, and the setting the refusal must name.
UNSAFE = {
    "secret_key": ({"MVC_SECRET_KEY": None}, "MVC_SECRET_KEY"),
    "media_secret": ({"MVC_MEDIA_SECRET": None}, "MVC_MEDIA_SECRET"),
    "sqlite": ({"MVC_DATABASE_URL": None}, "MVC_DATABASE_URL"),
    "outbox_sms": ({"MVC_SMS_BACKEND": "outbox"}, "MVC_SMS_BACKEND"),
    "outbox_mail": ({"MVC_MAIL_BACKEND": None}, "MVC_MAIL_BACKEND"),
    "insecure_cookies": ({"MVC_SECURE_COOKIES": "0"}, "MVC_SECURE_COOKIES"),
    "http_public_url": ({"MVC_PUBLIC_URL": None}, "MVC_PUBLIC_URL"),
}


def env_with(changes: dict[str, str | None], **extra: str) -> dict[str, str]:
    env = {**SAFE, **extra}
    for name, value in changes.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    return env


def test_a_production_environment_without_embedded_defaults_starts():
    assert settings.load(SAFE)["ENV"] == "production"


def test_every_unsafe_default_is_covered_here():
    assert set(UNSAFE) == set(settings.UNSAFE_DEFAULTS)


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_each_unsafe_default_is_refused_naming_the_setting_unless_allowed(name):
    changes, setting = UNSAFE[name]
    with pytest.raises(settings.UnsafeProduction) as refused:
        settings.load(env_with(changes))
    message = str(refused.value)
    assert f"{name}: {setting}" in message and message.count("\n  ") == 1  # only this one
    assert settings.load(env_with(changes, MVC_ALLOW_UNSAFE=f"{name}"))["ENV"] == "production"
    # The same default is fine outside production.
    assert settings.load(env_with(changes, MVC_ENV="embedded"))["ENV"] == "embedded"


def test_a_plain_http_public_url_is_refused_too():
    with pytest.raises(settings.UnsafeProduction, match="http_public_url: MVC_PUBLIC_URL") as refused:
        settings.load(env_with({"MVC_PUBLIC_URL": "http://video.example.dk"}))
    assert str(refused.value).count("\n  ") == 1
    allowed = env_with({"MVC_PUBLIC_URL": "http://video.example.dk"}, MVC_ALLOW_UNSAFE="http_public_url")
    assert settings.load(allowed)["PUBLIC_URL"] == "http://video.example.dk"


def test_allowing_one_default_does_not_allow_another():
    env = env_with({"MVC_DATABASE_URL": None, "MVC_SMS_BACKEND": "outbox"}, MVC_ALLOW_UNSAFE="sqlite")
    with pytest.raises(settings.UnsafeProduction, match="outbox_sms: MVC_SMS_BACKEND") as refused:
        settings.load(env)
    assert "MVC_DATABASE_URL" not in str(refused.value)


def test_a_misspelt_allowance_or_environment_is_refused():
    with pytest.raises(settings.UnsafeProduction, match="unknown defaults \\['sqllite'\\]"):
        settings.load(env_with({}, MVC_ALLOW_UNSAFE="sqllite"))
    with pytest.raises(settings.UnsafeProduction, match="MVC_ENV='prod'"):
        settings.load(env_with({}, MVC_ENV="prod"))


def production_env(tmp_path: Path) -> dict[str, str]:
    """This process's environment with MVC_ENV=production and every embedded default left in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVC_")}
    env.update(MVC_ENV="production", MVC_DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}",
               MVC_TLS_DIR=str(tmp_path / "tls"))
    return env


def assert_refused(done: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    """A plain refusal: non-zero exit, every unsafe setting named, no traceback, nothing made."""
    assert done.returncode != 0, done.stdout
    for setting in ("MVC_SECRET_KEY", "MVC_DATABASE_URL", "MVC_SMS_BACKEND", "MVC_MAIL_BACKEND",
                    "MVC_SECURE_COOKIES", "MVC_PUBLIC_URL", "MVC_ALLOW_UNSAFE"):
        assert setting in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "p.db").exists() and not (tmp_path / "tls").exists()


@pytest.mark.parametrize("command", [
    ["migrate"], ["seed"], ["platform-admin", "it@kommune.dk"], ["reminders", "--once"],
    ["retention", "--once"], ["webhooks", "--once"], ["lan", "127.0.0.1"],
    ["api-client", "create", "--organisation", "Demo", "--name", "EPJ", "--roles", "meeting-user"],
], ids=lambda command: " ".join(command[:2]))
def test_every_command_refuses_to_start_and_says_what_to_change(tmp_path, command):
    done = subprocess.run([sys.executable, "-m", "mvc", *command], env=production_env(tmp_path), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert_refused(done, tmp_path)


def test_gunicorn_as_make_run_and_the_service_start_it_refuses_to_start(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"],
                          env=production_env(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert_refused(done, tmp_path)


def test_gunicorn_without_our_settings_file_refuses_once_and_stops(tmp_path):
    """The app itself refuses; gunicorn's arbiter stops rather than booting the worker again and again."""
    done = subprocess.run([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{free_port()}", "wsgi:app"],
                          env=production_env(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert_refused(done, tmp_path)
    assert done.stderr.count("MVC_ENV=production refuses to start") == 1 and "App failed to load" in done.stderr


@pytest.mark.parametrize("name, value", [("MEDIA_PORTS", "40000-39000"), ("MEDIA_PORTS", "80-90"),
                                         ("MEDIA_PORTS", "forty"), ("MEDIA_ANNOUNCED_IP", "video.example.dk")])
def test_a_bad_media_port_range_or_announced_address_is_refused_at_start_naming_the_setting(name, value):
    from mvc.media_client import check_worker_settings

    with pytest.raises(ValueError, match=f"MVC_{name}="):
        check_worker_settings({"MEDIA_PORTS": "", "MEDIA_ANNOUNCED_IP": "", name: value})
    check_worker_settings({"MEDIA_PORTS": "40000-40099", "MEDIA_ANNOUNCED_IP": "203.0.113.7"})


def test_gunicorn_refuses_a_bad_media_port_range_naming_it_without_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVC_")}
    env.update(MVC_DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", MVC_MEDIA_PORTS="forty",
               MVC_SECRET_KEY="x" * 32, MVC_MEDIA_SECRET="y" * 32, MVC_LIVE_PATH=":memory:")
    done = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind",
                           f"127.0.0.1:{free_port()}", "wsgi:app"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "MVC_MEDIA_PORTS='forty' is not valid" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
