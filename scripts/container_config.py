"""Render the container's configuration from the documented default, with some values replaced.

    python3 container_config.py SOURCE DEST section.key=VALUE [section.key=VALUE ...]

The Dockerfile runs this on config/orchestrator.toml so that the image ships the documented
file, comments and all, with only its paths moved under /data: no second copy to drift.
Values are replaced line by line (a TOML writer would drop the comments), then the result is
parsed again and must equal the source with exactly those values changed; anything else, such
as a key that is missing or written across lines, fails the build with a message naming it.
Standard library only: it runs on the bare base image, before the project is installed.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# A table header. Any other header (an array of tables) keeps its brackets in the section name,
# which then matches no override, so the keys under it are left alone.
_TABLE = re.compile(r"\[([^\]]*)\]\s*(?:#.*)?")
_ASSIGNMENT = re.compile(r"([A-Za-z0-9_-]+)\s*=")


class RenderError(Exception):
    """The source cannot be rendered as asked; the message says why."""


def parse_overrides(arguments: Sequence[str]) -> dict[tuple[str, str], str]:
    """`section.key=VALUE` arguments as {(section, key): VALUE}."""
    overrides: dict[tuple[str, str], str] = {}
    for argument in arguments:
        dotted, sep, value = argument.partition("=")
        section, dot, key = dotted.partition(".")
        if not (sep and dot and section and key):
            raise RenderError(f"expected section.key=VALUE, got {argument!r}")
        if (section, key) in overrides:
            raise RenderError(f"{dotted} is given twice")
        overrides[(section, key)] = value
    return overrides


def render(source: str, overrides: Mapping[tuple[str, str], str]) -> str:
    """`source` with each overridden key's value replaced by a TOML string, comments kept."""
    lines = source.splitlines(keepends=True)
    section = ""
    replaced: set[tuple[str, str]] = set()
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            table = _TABLE.fullmatch(stripped)
            section = table.group(1).strip() if table else stripped
            continue
        assignment = _ASSIGNMENT.match(stripped)
        if assignment is None or (section, assignment.group(1)) not in overrides:
            continue
        target = (section, assignment.group(1))
        indent = line[: len(line) - len(line.lstrip())]
        newline = line[len(line.rstrip("\r\n")) :]
        # A JSON string of a str is a valid TOML basic string.
        lines[number] = f"{indent}{target[1]} = {json.dumps(overrides[target])}{newline}"
        replaced.add(target)
    missing = sorted(f"{s}.{k}" for s, k in overrides.keys() - replaced)
    if missing:
        raise RenderError(f"not found as a 'key = value' line of its table: {', '.join(missing)}")
    rendered = "".join(lines)
    _check(source, rendered, overrides)
    return rendered


def _check(source: str, rendered: str, overrides: Mapping[tuple[str, str], str]) -> None:
    """Fail unless `rendered` parses to `source`'s document with exactly `overrides` applied."""
    expected: dict[str, Any] = tomllib.loads(source)
    for (section, key), value in overrides.items():
        expected[section][key] = value
    try:
        actual = tomllib.loads(rendered)
    except tomllib.TOMLDecodeError as exc:
        raise RenderError(f"the rendered file is not valid TOML: {exc}") from None
    if actual != expected:
        raise RenderError("the rendered file differs from the source beyond the given values")


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    source_path, dest_path = Path(argv[0]), Path(argv[1])
    try:
        overrides = parse_overrides(argv[2:])
        rendered = render(source_path.read_text(encoding="utf-8"), overrides)
    except (RenderError, OSError, tomllib.TOMLDecodeError) as exc:
        print(f"container_config: {source_path}: {exc}", file=sys.stderr)
        return 1
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    dest_path.write_text(rendered, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
