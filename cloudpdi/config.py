"""The run configuration: which actor is simulated or under test, endpoints, keys, budgets.

One import for the whole public API; the work is done, one job each, by
:mod:`cloudpdi.config_model` (the checked data), :mod:`cloudpdi.config_actors` (how each
actor takes part), :mod:`cloudpdi.config_triggers` (how a SUT is made to act, and where its
token arrives), :mod:`cloudpdi.config_budgets` (transfer budgets, scenario timeouts),
:mod:`cloudpdi.config_load` (reading TOML), :mod:`cloudpdi.config_secrets` (keys by reference)
and :mod:`cloudpdi.config_rules` (the rules and the error).
"""

from cloudpdi.config_actors import (
    ACTOR_NAMES,
    ActorConfig,
    ClientTls,
    Mode,
    PacsSut,
    ReceiverSut,
    RepositorySut,
    SenderSut,
    SimulatedActor,
    SimulatedPacs,
    SimulatedServer,
)
from cloudpdi.config_budgets import MEGABYTE, Budgets, TransferBudget
from cloudpdi.config_load import load_run_config
from cloudpdi.config_model import (
    CONFIG_VERSION,
    Community,
    Facilities,
    FacilityConfig,
    RunConfig,
    RunSettings,
    SystemUnderTest,
    Timeouts,
)
from cloudpdi.config_rules import RESERVED_ENV_PREFIX, RunConfigError
from cloudpdi.config_secrets import SecretRef, SecretUnavailable, resolve_secret
from cloudpdi.config_triggers import (
    TOKEN_INBOX_PATH,
    FolderInbox,
    Hook,
    HttpInbox,
    Operator,
    QrImageInbox,
    TokenInbox,
    Trigger,
)

__all__ = [
    "ACTOR_NAMES",
    "CONFIG_VERSION",
    "MEGABYTE",
    "RESERVED_ENV_PREFIX",
    "TOKEN_INBOX_PATH",
    "ActorConfig",
    "Budgets",
    "ClientTls",
    "Community",
    "Facilities",
    "FacilityConfig",
    "FolderInbox",
    "Hook",
    "HttpInbox",
    "Mode",
    "Operator",
    "PacsSut",
    "QrImageInbox",
    "ReceiverSut",
    "RepositorySut",
    "RunConfig",
    "RunConfigError",
    "RunSettings",
    "SecretRef",
    "SecretUnavailable",
    "SenderSut",
    "SimulatedActor",
    "SimulatedPacs",
    "SimulatedServer",
    "SystemUnderTest",
    "Timeouts",
    "TokenInbox",
    "TransferBudget",
    "Trigger",
    "load_run_config",
    "resolve_secret",
]
