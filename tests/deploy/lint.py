"""A Dockerfile lint: parse the instructions with Docker's own parser and name what is wrong."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import dockerfile

BASE = re.compile(r"python:3\.11(\.\d+)?-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?")
ROOT_USERS = {"root", "0", "root:root", "0:0"}
# Names that hold credentials; their values must come from the environment at run time.
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|AUTH|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.I
)
# Values shaped like Slack, Twilio or private-key material, whatever the variable's name.
SECRET_VALUE = re.compile(
    r"xox[abpr]-|xapp-|\bAC[0-9a-f]{32}\b|\bSK[0-9a-f]{32}\b|BEGIN [A-Z ]*PRIVATE KEY"
)
SECRET_FILES = re.compile(r"(^|/)(\.env(\..*)?|.*\.pem|.*\.key|id_rsa.*)$")


def _pairs(command: dockerfile.Command) -> list[tuple[str, str]]:
    values = list(command.value)
    if command.cmd == "ARG":
        return [(v.partition("=")[0], v.partition("=")[2]) for v in values]
    return list(zip(values[::2], values[1::2], strict=False))


def dockerfile_problems(text: str, dockerignore: str = "") -> list[str]:
    """Return one sentence per problem of a Baton Dockerfile; none when it is fit to ship."""
    commands = dockerfile.parse_string(text)
    problems: list[str] = []
    froms = [c for c in commands if c.cmd == "FROM"]
    if not froms:
        return ["no FROM instruction"]
    final = commands[commands.index(froms[-1]) :]
    image = froms[-1].value[0]
    if not BASE.fullmatch(image):
        problems.append(f"FROM {image}: the final stage must be python:3.11-slim")

    users = [c.value[0] for c in final if c.cmd == "USER"]
    if not users:
        problems.append("no USER: the process would run as root")
    elif users[-1] in ROOT_USERS:
        problems.append(f"USER {users[-1]}: the process would run as root")

    checks = [c for c in final if c.cmd == "HEALTHCHECK"]
    if not checks or checks[-1].value[0].upper() == "NONE":
        problems.append("no HEALTHCHECK")
    elif "/healthz" not in " ".join(checks[-1].value):
        problems.append("the HEALTHCHECK does not ask /healthz")

    cmds = [c for c in final if c.cmd in ("CMD", "ENTRYPOINT")]
    started = " ".join(" ".join(c.value) for c in cmds)
    if "gunicorn" not in started or "app:create_app()" not in started:
        problems.append("the default command is not gunicorn serving app:create_app()")
    elif re.search(r"(^|\s)(-c|--config)(\s|=)", started.partition("gunicorn")[2]):
        problems.append("gunicorn is given another config file than the repo's gunicorn.conf.py")

    for command in commands:
        if command.cmd in ("ENV", "ARG"):
            for name, value in _pairs(command):
                if value and SECRET_NAME.search(name):
                    problems.append(
                        f"line {command.start_line}: {name} is given a value in the image"
                    )
        if SECRET_VALUE.search(command.original):
            problems.append(f"line {command.start_line}: a credential is written in the Dockerfile")
        if command.cmd in ("COPY", "ADD"):
            sources = [v for v in command.value[:-1] if not v.startswith("--")]
            for source in sources:
                if SECRET_FILES.search(str(PurePosixPath(source))):
                    problems.append(f"line {command.start_line}: {source} is copied into the image")
            if "." in sources and not _ignores_env(dockerignore):
                problems.append(
                    f"line {command.start_line}: the whole context is copied but .dockerignore "
                    "does not leave out .env"
                )
    return problems


def _ignores_env(dockerignore: str) -> bool:
    lines = [line.strip() for line in dockerignore.splitlines()]
    return ".env" in lines or "*.env" in lines or "**/.env" in lines
