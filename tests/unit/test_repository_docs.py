"""The repository explains itself, and what it says stays true: the generated catalogue and key reference
equal what the code generates, every TOML example in the README loads, every profile key has a meaning,
the exit-code table is the code's, and nothing points outside the repository a user installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from chaos.brokers import kits
from chaos.errors import EXIT_CODES
from chaos.profile_keys import key_reference
from chaos.profiles import parse_profile
from chaos.schedule.catalogue import catalogue_markdown, catalogue_rows

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_catalogue_document_is_the_generated_one() -> None:
    assert (ROOT / "CATALOGUE.md").read_text() == catalogue_markdown(), "run: brokerchaos catalogue > CATALOGUE.md"


def test_the_catalogue_has_every_row_of_every_broker() -> None:
    rows = {p.catalogue for p in catalogue_rows()}
    assert {f"K{i}" for i in range(1, 9)} | {f"R{i}" for i in range(1, 8)} | {f"S{i}" for i in range(1, 7)} <= rows


def test_the_readme_key_reference_is_the_generated_one() -> None:
    block = README.split("<!-- profile-keys:start -->\n", 1)[1].split("<!-- profile-keys:end -->", 1)[0]
    assert block == key_reference()


def test_every_profile_key_has_a_meaning() -> None:
    for broker in kits():
        rows = [line for line in key_reference(broker).splitlines() if line.startswith("| `")]
        assert rows
        empty = [row for row in rows if row.rstrip().endswith("|  |") or row.split("|")[4].strip() == ""]
        assert empty == [], broker


@pytest.mark.parametrize("block", re.findall(r"```toml\n(.*?)```", README, re.DOTALL))
def test_every_toml_example_in_the_readme_loads(block: str) -> None:
    parse_profile(tomllib.loads(block))


def test_the_readme_exit_codes_are_the_codes() -> None:
    table = dict(re.findall(r"^\| (\d) \| (.+?) \|$", README, re.MULTILINE))
    assert {int(k): v for k, v in table.items()} == EXIT_CODES


def test_nothing_points_outside_the_repository() -> None:
    outside = re.compile(r"design §|\.\./shared|design\.md")
    files = [*ROOT.joinpath("chaos").rglob("*.py"), ROOT / "README.md", *ROOT.joinpath("suites").rglob("*.toml")]
    assert [str(f.relative_to(ROOT)) for f in files if outside.search(f.read_text())] == []
