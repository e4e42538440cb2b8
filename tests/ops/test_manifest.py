"""The Slack app manifest: scopes, events, URLs, the command and the shortcut."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
import yaml

from config import BatonConfig, Settings, load_config
from ops.manifest import build_manifest
from tests.ops import ROOT, bot_env, run_bot

PUBLIC_URL = "https://baton.example.com"
EVENTS_URL = "https://baton.example.com/slack/events"


@pytest.fixture
def config() -> BatonConfig:
    return load_config(ROOT / "config" / "baton.yml")


def readme_scopes() -> list[str]:
    """Return the bot scopes README's Slack app table lists, so the two cannot drift apart."""
    row = next(
        line
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| Bot token scopes")
    )
    return re.findall(r"`([a-z.:_]+)`", row)


def test_bot_scopes_are_exactly_the_readme_ones(config: BatonConfig) -> None:
    manifest = build_manifest(PUBLIC_URL, config)

    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert sorted(scopes) == sorted(readme_scopes())
    assert len(scopes) == len(set(scopes))


def test_events_interactivity_and_the_command_share_one_url(config: BatonConfig) -> None:
    manifest = build_manifest(PUBLIC_URL, config)

    settings = manifest["settings"]
    assert settings["event_subscriptions"] == {
        "request_url": EVENTS_URL,
        "bot_events": ["message.channels", "message.groups", "app_home_opened"],
    }
    assert settings["interactivity"] == {"is_enabled": True, "request_url": EVENTS_URL}
    [command] = manifest["features"]["slash_commands"]
    assert command["url"] == EVENTS_URL
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_slash_command_comes_from_the_config_with_escaping_on(config: BatonConfig) -> None:
    custom = dataclasses.replace(config, slash_command="/text")

    [command] = build_manifest(PUBLIC_URL, custom)["features"]["slash_commands"]

    assert command["command"] == "/text"
    assert command["should_escape"] is True
    assert command["description"]
    assert command["usage_hint"]


def test_handoff_shortcut_home_tab_and_bot_user(config: BatonConfig) -> None:
    features = build_manifest(PUBLIC_URL, config, name="Front Desk")["features"]

    assert features["shortcuts"] == [
        {
            "name": "Hand off conversation",
            "type": "message",
            "callback_id": "handoff_message",
            "description": features["shortcuts"][0]["description"],
        }
    ]
    assert features["app_home"] == {
        "home_tab_enabled": True,
        "messages_tab_enabled": True,
        "messages_tab_read_only_enabled": True,
    }
    assert features["bot_user"]["display_name"] == "Front Desk"


def test_display_information_fits_slack_limits(config: BatonConfig) -> None:
    info = build_manifest(PUBLIC_URL, config)["display_information"]

    assert info["name"] == "Baton"
    assert len(info["description"]) <= 140
    # Slack rejects a long_description shorter than 175 characters.
    assert 175 <= len(info["long_description"]) <= 4000
    assert re.fullmatch(r"#[0-9a-f]{6}", info["background_color"])


def test_trailing_slash_of_the_public_url_is_ignored(config: BatonConfig) -> None:
    manifest = build_manifest(PUBLIC_URL + "/", config)

    assert manifest["settings"]["interactivity"]["request_url"] == EVENTS_URL


def test_socket_mode_drops_every_request_url(config: BatonConfig) -> None:
    manifest = build_manifest(PUBLIC_URL, config, socket_mode=True)

    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in manifest["settings"]["event_subscriptions"]
    assert manifest["settings"]["event_subscriptions"]["bot_events"]
    assert manifest["settings"]["interactivity"] == {"is_enabled": True}
    assert "url" not in manifest["features"]["slash_commands"][0]
    assert "slack/events" not in yaml.safe_dump(manifest)


def test_manifest_round_trips_through_yaml(config: BatonConfig) -> None:
    manifest = build_manifest(PUBLIC_URL, config)

    assert yaml.safe_load(yaml.safe_dump(manifest, sort_keys=False)) == manifest


# `python -m bot manifest`


def test_cli_writes_the_manifest_to_a_file(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "manifest.yml"

    result = run_bot("manifest", "--out", str(out), env=bot_env(settings))

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    written = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert written == build_manifest(PUBLIC_URL, load_config(settings.config_path))


def test_cli_prints_a_socket_mode_manifest_without_public_url(settings: Settings) -> None:
    result = run_bot("manifest", "--socket-mode", env=bot_env(settings, PUBLIC_URL=None))

    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["slash_commands"][0]["command"] == "/sms"


def test_cli_without_public_url_says_so_and_exits_2(settings: Settings) -> None:
    result = run_bot("manifest", env=bot_env(settings, PUBLIC_URL=None))

    assert result.returncode == 2
    assert result.stderr.startswith("baton: PUBLIC_URL is not set")
    assert "Traceback" not in result.stderr


def test_cli_needs_only_what_the_manifest_holds(settings: Settings) -> None:
    # Before the Slack app exists there is no token or signing secret, and the
    # Twilio account may not be set up yet: none of them is in the manifest.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PUBLIC_URL": PUBLIC_URL,
        "BATON_CONFIG": str(settings.config_path),
    }

    result = run_bot("manifest", env=env)

    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    assert manifest == build_manifest(PUBLIC_URL, load_config(settings.config_path))


def test_cli_with_a_bad_public_url_or_config_says_which_and_exits_2(
    settings: Settings, tmp_path: Path
) -> None:
    bad_url = run_bot("manifest", env=bot_env(settings, PUBLIC_URL="baton.example.com"))
    missing = run_bot("manifest", env=bot_env(settings, BATON_CONFIG=str(tmp_path / "nope.yml")))

    assert bad_url.returncode == 2 and missing.returncode == 2
    assert bad_url.stderr.startswith("baton: PUBLIC_URL must be an http(s) URL")
    assert "nope.yml: cannot read the config file" in missing.stderr
    assert "Traceback" not in bad_url.stderr + missing.stderr


def test_other_commands_with_bad_settings_name_each_problem_and_exit_2(
    settings: Settings,
) -> None:
    env = bot_env(settings, SLACK_BOT_TOKEN=None, TWILIO_ACCOUNT_SID="nope")

    result = run_bot("webhooks", env=env)

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert all(line.startswith("baton: ") for line in lines)
    assert any("SLACK_BOT_TOKEN is not set" in line for line in lines)
    assert any("TWILIO_ACCOUNT_SID" in line for line in lines)
    assert "Traceback" not in result.stderr
