"""compose.yaml against the Compose specification's JSON schema, and the checks that matter to Baton.

There is no Docker daemon or compose plugin here, so `docker compose config`
cannot run; the schema is the compose-spec project's own, as the
check-jsonschema package ships it (vendor/compose-spec.json, Apache-2.0, its
licence beside it in that package).
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import crossplane
import jsonschema
import pytest
import yaml

from bot.store import MEMORY_SETTINGS
from ops.limits import MAX_REQUEST_BYTES

ROOT = Path(__file__).resolve().parents[2]
BATON_SERVICES = ("web", "clock")


def compose_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "compose-spec.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = compose_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def schema_errors(validator: jsonschema.Draft202012Validator, document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_compose_yaml_follows_the_compose_specification(
    validator: jsonschema.Draft202012Validator, compose: dict[str, Any]
) -> None:
    assert schema_errors(validator, compose) == []


@pytest.mark.parametrize(
    "breakage",
    [
        lambda c: c["services"]["web"].update(depends_on={"redis": {"condition": "soon"}}),
        lambda c: c["services"]["redis"].update(volumes="redis-data:/data"),
        lambda c: c["services"]["proxy"].update(prots=["80:80"]),
        lambda c: c.update(servces=c["services"]),
    ],
    ids=["unknown-condition", "volumes-not-a-list", "misspelt-key", "misspelt-top-level"],
)
def test_the_schema_refuses_a_broken_file(
    validator: jsonschema.Draft202012Validator, compose: dict[str, Any], breakage: Any
) -> None:
    broken = copy.deepcopy(compose)
    breakage(broken)

    assert schema_errors(validator, broken) != []


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


@pytest.mark.parametrize("name", BATON_SERVICES)
def test_baton_processes_share_the_redis_service_in_production(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    env = environment(service)

    assert env["BATON_ENV"] == "production"
    redis_url = urlparse(env["REDIS_URL"])
    assert redis_url.scheme == "redis"
    assert redis_url.hostname in compose["services"]
    assert "redis-server" in compose["services"][redis_url.hostname]["command"]
    assert service["depends_on"][redis_url.hostname]["condition"] == "service_healthy"
    # Secrets come from the operator's .env, which the image never holds.
    assert service["env_file"] == ".env"
    assert ".env" in (ROOT / ".dockerignore").read_text().splitlines()


def test_web_and_clock_run_the_procfile_s_processes(compose: dict[str, Any]) -> None:
    procfile = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    web, clock = compose["services"]["web"], compose["services"]["clock"]

    assert web["build"] == clock["build"] == "."
    assert "command" not in web  # the image's CMD: the Procfile's web line
    assert " ".join(clock["command"]) == procfile["clock"]
    # The image's health check asks the web port; the clock serves none.
    assert clock["healthcheck"] == {"disable": True}


def test_delivery_runs_in_the_clock_not_in_web(compose: dict[str, Any]) -> None:
    web, clock = (environment(compose["services"][name]) for name in BATON_SERVICES)

    # Set on web itself, so a BATON_DELIVERY_THREADS in .env meant for the clock stays there.
    assert web["BATON_DELIVERY_THREADS"] == "0"
    assert clock.get("BATON_DELIVERY_THREADS", "8") != "0"


def test_redis_keeps_an_append_only_file_on_a_volume(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = redis["command"]

    assert command[command.index("--appendonly") + 1] == "yes"
    volume, _, target = redis["volumes"][0].partition(":")
    assert target == "/data"
    assert volume in compose["volumes"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_redis_runs_with_the_embedded_redis_s_memory_settings(compose: dict[str, Any]) -> None:
    command = compose["services"]["redis"]["command"]

    for name, value in MEMORY_SETTINGS.items():
        assert command[command.index(f"--{name}") + 1] == value, name


def test_only_the_proxy_is_published(compose: dict[str, Any]) -> None:
    published = {name for name, s in compose["services"].items() if s.get("ports")}

    assert published == {"proxy"}
    assert compose["services"]["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"


# The proxy's configuration, parsed as nginx parses it


def nginx_config(compose: dict[str, Any]) -> list[dict[str, Any]]:
    mounts = compose["services"]["proxy"]["volumes"]
    source = next(m.split(":")[0] for m in mounts if ":/etc/nginx/nginx.conf" in m)
    parsed = crossplane.parse(str(ROOT / source), comments=False)
    assert parsed["status"] == "ok", parsed["errors"]
    return parsed["config"][0]["parsed"]


def directives(block: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Return every directive called name, at any depth."""
    found = []
    for directive in block:
        if directive["directive"] == name:
            found.append(directive)
        found += directives(directive.get("block", []), name)
    return found


def only(block: list[dict[str, Any]], name: str) -> list[str]:
    found = directives(block, name)
    assert len(found) == 1, f"{name}: {found}"
    return found[0]["args"]


def test_the_proxy_forwards_to_web(compose: dict[str, Any]) -> None:
    config = nginx_config(compose)
    target = urlparse(only(config, "proxy_pass")[0])
    upstream = next(u for u in directives(config, "upstream") if u["args"] == [target.hostname])
    servers = [d["args"][0] for d in upstream["block"] if d["directive"] == "server"]

    assert servers == [f"web:{compose['services']['web']['expose'][0]}"]
    assert only(config, "listen") == ["80"]
    assert compose["services"]["proxy"]["ports"] == ["80:80"]


def test_the_proxy_buffers_whole_requests_and_answers(compose: dict[str, Any]) -> None:
    config = nginx_config(compose)

    assert only(config, "proxy_request_buffering") == ["on"]
    assert only(config, "proxy_buffering") == ["on"]
    # Baton's own request limit, held whole in memory.
    assert only(config, "client_max_body_size") == [f"{MAX_REQUEST_BYTES // 1024}k"]
    assert only(config, "client_body_buffer_size") == [f"{MAX_REQUEST_BYTES // 1024}k"]
    # A stalled client is cut off by nginx, never waited on by gunicorn.
    for timeout in ("client_header_timeout", "client_body_timeout"):
        assert only(config, timeout) == ["10s"]
