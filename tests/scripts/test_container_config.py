"""scripts/container_config.py: the image's configuration derived from the documented one."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.scripts.loader import SCRIPTS, load_script

container_config = load_script("container_config")

DATA_PATHS = {
    ("queue", "path"): "/data/queue.jsonl",
    ("queue", "dead_letter_path"): "/data/dead-letter.jsonl",
    ("store", "path"): "/data/orchestrator.db",
    ("events", "path"): "/data/events.jsonl",
}
DOCUMENTED = SCRIPTS.parent / "config" / "orchestrator.toml"


def test_documented_config_renders_with_paths_under_data_and_comments_kept() -> None:
    """The shipped default renders to the same document with only the four paths moved."""
    source = DOCUMENTED.read_text(encoding="utf-8")
    rendered = container_config.render(source, DATA_PATHS)
    document = tomllib.loads(rendered)
    for (section, key), value in DATA_PATHS.items():
        assert document[section][key] == value
    expected = tomllib.loads(source)
    for (section, key), value in DATA_PATHS.items():
        expected[section][key] = value
    assert document == expected
    comments = [line for line in source.splitlines() if line.lstrip().startswith("#")]
    assert comments == [line for line in rendered.splitlines() if line.lstrip().startswith("#")]


def test_only_the_named_table_is_touched() -> None:
    """A key of the same name in another table keeps its value."""
    source = '[store]\npath = "a.db"\n\n[events]\npath = "e.jsonl"\n'
    rendered = container_config.render(source, {("store", "path"): "/data/a.db"})
    assert tomllib.loads(rendered) == {
        "store": {"path": "/data/a.db"},
        "events": {"path": "e.jsonl"},
    }


def test_indentation_and_line_endings_are_kept() -> None:
    """An indented key with CRLF line endings is replaced in place, its layout unchanged."""
    source = '[queue]\r\n  path = "q"\r\nx = 1\r\n'
    rendered = container_config.render(source, {("queue", "path"): "/data/q"})
    assert rendered == '[queue]\r\n  path = "/data/q"\r\nx = 1\r\n'


def test_a_missing_key_fails_naming_it() -> None:
    """An override whose key is not in its table is an error that names the key."""
    with pytest.raises(container_config.RenderError, match=r"store\.path"):
        container_config.render('[queue]\npath = "q"\n', {("store", "path"): "/x"})


def test_keys_under_an_array_of_tables_are_not_taken_for_the_section() -> None:
    """After a [[table]] header, a same-named key is not the earlier section's key."""
    source = '[queue]\nx = 1\n[[jobs]]\npath = "j"\n'
    with pytest.raises(container_config.RenderError, match=r"queue\.path"):
        container_config.render(source, {("queue", "path"): "/x"})


def test_a_value_spread_over_lines_is_refused() -> None:
    """A multi-line string cannot be replaced line by line: the check after rendering fails."""
    source = '[store]\npath = """\nx"""\n'
    with pytest.raises(container_config.RenderError, match="not valid TOML"):
        container_config.render(source, {("store", "path"): "/y"})


def test_values_with_quotes_and_backslashes_stay_exact() -> None:
    """A replacement value is written as a TOML string that parses back to itself."""
    value = 'C:\\data\\"q".jsonl'
    rendered = container_config.render('[queue]\npath = "q"\n', {("queue", "path"): value})
    assert tomllib.loads(rendered)["queue"]["path"] == value


@pytest.mark.parametrize("argument", ["queuepath=/x", "queue.=/x", ".path=/x", "queue.path"])
def test_malformed_override_arguments_are_refused(argument: str) -> None:
    """An argument that is not section.key=VALUE is a usage error."""
    with pytest.raises(container_config.RenderError, match=r"section\.key=VALUE"):
        container_config.parse_overrides([argument])


def test_an_override_given_twice_is_refused() -> None:
    """The same key twice is ambiguous and refused."""
    with pytest.raises(container_config.RenderError, match="twice"):
        container_config.parse_overrides(["queue.path=/a", "queue.path=/b"])


def test_main_writes_the_rendered_file_and_reports_failures(tmp_path: Path) -> None:
    """main() writes DEST on success, and on failure exits 1 without writing it."""
    source = tmp_path / "in.toml"
    source.write_text('[queue]\npath = "q"\n', encoding="utf-8")
    dest = tmp_path / "out" / "orchestrator.toml"
    assert container_config.main([str(source), str(dest), "queue.path=/data/q"]) == 0
    assert tomllib.loads(dest.read_text(encoding="utf-8")) == {"queue": {"path": "/data/q"}}
    missing = tmp_path / "never.toml"
    assert container_config.main([str(source), str(missing), "store.path=/x"]) == 1
    assert not missing.exists()
