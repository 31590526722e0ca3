"""The run configuration: which actor is simulated or under test, endpoints, keys, budgets.

One import for the whole public API; the work is done, one job each, by
:mod:`cloudpdi.config_model` (the checked data), :mod:`cloudpdi.config_actors` (how each
actor takes part), :mod:`cloudpdi.config_load` (reading TOML), :mod:`cloudpdi.config_secrets`
(keys by reference) and :mod:`cloudpdi.config_rules` (the rules and the error).
"""

from cloudpdi.config_actors import (
    ACTOR_NAMES,
    TOKEN_INBOX_PATH,
    ActorConfig,
    ClientTls,
    FolderInbox,
    Hook,
    HttpInbox,
    Mode,
    Operator,
    PacsSut,
    QrImageInbox,
    ReceiverSut,
    RepositorySut,
    SenderSut,
    SimulatedActor,
    SimulatedPacs,
    SimulatedServer,
    TokenInbox,
    Trigger,
)
from cloudpdi.config_load import load_run_config
from cloudpdi.config_model import (
    CONFIG_VERSION,
    MEGABYTE,
    Budgets,
    Community,
    Facilities,
    FacilityConfig,
    RunConfig,
    RunSettings,
    SystemUnderTest,
    Timeouts,
    TransferBudget,
)
from cloudpdi.config_rules import RESERVED_ENV_PREFIX, RunConfigError
from cloudpdi.config_secrets import SecretRef, SecretUnavailable, resolve_secret

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
