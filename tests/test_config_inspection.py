"""``[repository.inspection]``: what a repository under test shows the harness of its insides."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudpdi.config import load_run_config
from cloudpdi.config_actors import RepositoryInspection, RepositorySut
from tests.test_config import EXAMPLES, REPOSITORY_SUT, load_error, write

URL = "url = 'https://repo.example/cpdi/'\n"


def test_inspection_paths_are_relative_to_the_config_file_and_the_wait_defaults_to_the_run(
    tmp_path: Path,
) -> None:
    text = (
        REPOSITORY_SUT
        + URL
        + "[repository.inspection]\nstorage = 'repo-data'\naccess_log = '/var/log/repo.jsonl'\n"
        + "[run.timeouts]\nwait = 42\n"
    )

    config = load_run_config(write(tmp_path, text))

    assert isinstance(config.repository, RepositorySut)
    assert config.repository.inspection == RepositoryInspection(
        storage=tmp_path / "repo-data", access_log=Path("/var/log/repo.jsonl"), wait_timeout=42
    )
    assert config.repository.summary()["inspection"] == {
        "storage": str(tmp_path / "repo-data"),
        "access_log": "/var/log/repo.jsonl",
        "wait_timeout": 42,
    }


def test_without_the_table_a_repository_under_test_shows_nothing(tmp_path: Path) -> None:
    config = load_run_config(write(tmp_path, REPOSITORY_SUT + URL))

    assert isinstance(config.repository, RepositorySut)
    inspection = config.repository.inspection
    assert (inspection.storage, inspection.access_log) == (None, None)
    assert inspection.wait_timeout == config.run.timeouts.wait


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (
            "[repository.inspection]\nwait_timeout = 0\n",
            "repository.inspection.wait_timeout",
            "positive number of seconds",
        ),
        (
            "[repository.inspection]\nstorage = 3\n",
            "repository.inspection.storage",
            "a string",
        ),
        (
            "[repository.inspection]\naudit = 'log.jsonl'\n",
            "repository.inspection.audit",
            "not a setting of [repository.inspection]",
        ),
        (
            "[repository.inspection]\nstorage = 'data'\naccess_log = 'data'\n",
            "repository.inspection.access_log",
            "not the storage folder",
        ),
        ("inspection = 'data'\n", "repository.inspection", "a table"),
    ],
)
def test_each_inspection_rule_names_the_key_and_the_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    error = load_error(tmp_path, REPOSITORY_SUT + URL + text)

    assert error.key == key
    assert problem in error.problem


def test_a_simulated_repository_has_no_inspection(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[repository]\n[repository.inspection]\nstorage = 'data'\n")

    assert error.key == "repository.inspection"
    assert "not a setting of a simulated repository" in error.problem


def test_the_vendor_example_shows_its_access_log_but_not_its_storage() -> None:
    example = next(path for path in EXAMPLES if path.name == "run-vendor-repository.toml")

    repository = load_run_config(example).repository

    assert isinstance(repository, RepositorySut)
    assert repository.inspection == RepositoryInspection(
        access_log=example.parent / "exports/access.jsonl", wait_timeout=120
    )
