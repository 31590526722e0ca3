"""Read a run configuration from TOML (the schema is documented in examples/README.md).

Every table is read by one function here (an actor's, in :mod:`cloudpdi.config_load_actors`)
that declares its keys, reads typed values and hands them to the checked model
(:mod:`cloudpdi.config_model`); whatever goes wrong is a :class:`RunConfigError` naming the
file, the key path and the problem.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from cloudpdi.config_actors import ACTOR_NAMES
from cloudpdi.config_budgets import Budgets, TransferBudget
from cloudpdi.config_load_actors import load_actor
from cloudpdi.config_model import (
    CONFIG_VERSION,
    DEFAULT_ISSUER,
    DEFAULT_OUTPUT,
    DEFAULT_RECIPIENT,
    Community,
    Facilities,
    FacilityConfig,
    RunConfig,
    RunSettings,
    SystemUnderTest,
    Timeouts,
)
from cloudpdi.config_rules import RunConfigError
from cloudpdi.config_table import Table, default_to, given
from cloudpdi.token_model import Facility, TokenError


def load_run_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read and check the run configuration in TOML file ``path``."""
    file = Path(path).expanduser().resolve()
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise RunConfigError("", f"cannot read the file: {reason}", file=file) from None
    except UnicodeDecodeError:
        raise RunConfigError("", "is not UTF-8 text", file=file) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib says where (line, column) and what was expected; it quotes no value.
        raise RunConfigError("", f"is not valid TOML: {exc}", file=file) from None
    root = Table(document, "", file)
    root.expect(
        "version",
        "run",
        "sut",
        *ACTOR_NAMES,
        "facilities",
        "community",
        "budgets",
        what="a run configuration",
    )
    if root.integer("version") not in (None, CONFIG_VERSION):
        raise root.error(
            "version", f"this harness reads run configuration version {CONFIG_VERSION}"
        )
    run = _run(root.table("run"))
    return root.build(
        RunConfig,
        run=run,
        systems=tuple(_system(table) for table in root.tables("sut")),
        **{name: load_actor(root.table(name), name, run.timeouts) for name in ACTOR_NAMES},
        facilities=_facilities(root.table("facilities")),
        community=_community(root.table("community")),
        budgets=_budgets(root.table("budgets")),
        source=file,
    )


def _run(table: Table) -> RunSettings:
    table.expect("operator", "label", "output", "seed", "timeouts", what="[run]")
    timeouts = table.table("timeouts")
    timeouts.expect("network", "wait", "hook", what="[run.timeouts]")
    return table.build(
        RunSettings,
        output_dir=default_to(table.path("output"), table.file.parent / DEFAULT_OUTPUT),
        timeouts=timeouts.build(
            Timeouts,
            **given(
                network=timeouts.number("network"),
                wait=timeouts.number("wait"),
                hook=timeouts.number("hook"),
            ),
        ),
        **given(
            operator=table.string("operator"),
            label=table.string("label"),
            seed=table.integer("seed"),
        ),
    )


def _system(table: Table) -> SystemUnderTest:
    table.expect("vendor", "product", "version", "claims", what="a system under test ([[sut]])")
    return table.build(
        SystemUnderTest,
        vendor=table.required("vendor", table.string("vendor")),
        product=table.required("product", table.string("product")),
        version=table.required("version", table.string("version")),
        claims=table.mapping("claims", Table.strings),
    )


def _facilities(table: Table) -> Facilities:
    table.expect("issuer", "recipient", what="[facilities]")
    return table.build(
        Facilities,
        issuer=_facility(table.table("issuer"), DEFAULT_ISSUER),
        recipient=_facility(table.table("recipient"), DEFAULT_RECIPIENT),
    )


def _facility(table: Table, default: Facility) -> FacilityConfig:
    table.expect("id", "name", "private_key", "public_key", "bearer_key", what=f"[{table.prefix}]")
    facility = default
    if table.has("id") or table.has("name"):
        # A real facility's ID with the test facility's name would mislead a report.
        identity = table.required("id", table.string("id"))
        name = table.required("name", table.string("name"))
        facility = _identity(table, "id", identity, default.name)
        facility = _identity(table, "name", identity, name)
    return table.build(
        FacilityConfig,
        facility=facility,
        private_key=table.path("private_key"),
        public_key=table.path("public_key"),
        bearer_key=table.secret("bearer_key"),
    )


def _identity(table: Table, key: str, identity: str, name: str) -> Facility:
    """A facility, or the error naming ``key``, the item checked last: its ID, then its name."""
    try:
        return Facility(id=identity, name=name)
    except TokenError as exc:
        raise table.error(key, f"is not usable in a token: {exc}") from None


def _community(table: Table) -> Community:
    table.expect("id", "directory", what="[community]")
    return table.build(
        Community,
        directory=table.mapping("directory", Table.string),
        **given(id=table.string("id")),
    )


def _budgets(table: Table) -> Budgets:
    table.expect(
        "scenario_timeout",
        "scenario_timeouts",
        "continue_after_timeout",
        "transfer",
        what="[budgets]",
    )
    classes = table.table("transfer")
    return table.build(
        Budgets,
        scenario_timeouts=table.mapping("scenario_timeouts", Table.number),
        transfers=tuple(_transfer(classes.table(name), name) for name in classes.names()),
        **given(
            scenario_timeout=table.number("scenario_timeout"),
            continue_after_timeout=table.boolean("continue_after_timeout"),
        ),
    )


def _transfer(table: Table, name: str) -> TransferBudget:
    table.expect(
        "max_size_mb", "min_throughput_mb_s", "max_latency_s", what="a transfer size class"
    )
    return table.build(
        TransferBudget,
        name=name,
        **given(
            max_size_mb=table.number("max_size_mb"),
            min_throughput_mb_s=table.number("min_throughput_mb_s"),
            max_latency_s=table.number("max_latency_s"),
        ),
    )
