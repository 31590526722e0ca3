"""The run configuration: examples load, every rule names file + key, no secret leaks out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudpdi.config import (
    ACTOR_NAMES,
    FolderInbox,
    Hook,
    HttpInbox,
    Mode,
    Operator,
    PacsSut,
    QrImageInbox,
    ReceiverSut,
    RepositorySut,
    RunConfig,
    RunConfigError,
    SecretRef,
    SecretUnavailable,
    SenderSut,
    SimulatedPacs,
    SimulatedServer,
    TransferBudget,
    load_run_config,
    resolve_secret,
)
from cloudpdi.config_budgets import Budgets

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("run-*.toml"))
#: Stands for key material or a credential: no error or summary may show it.
SENTINEL = "S3cretSentinelValue42"

SENDER_SUT = """
[[sut]]
vendor = "ACME"
product = "CloudSend"
version = "1"
claims = { sender = ["core"] }
[sender]
mode = "sut"
"""
TRIGGER = '[sender.trigger]\nkind = "hook"\nargv = ["send"]\n'
INBOX = '[sender.token_inbox]\nkind = "folder"\npath = "inbox"\n'
RECEIVER_SUT = "[receiver]\nmode = 'sut'\ntoken_delivery = { kind = 'operator' }\n"
REPOSITORY_SUT = """
[[sut]]
vendor = "Sakura"
product = "Repo"
version = "2"
claims = { repository = [] }
[repository]
mode = "sut"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> RunConfigError:
    path = write(tmp_path, text)
    with pytest.raises(RunConfigError) as caught:
        load_run_config(path)
    return caught.value


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_every_example_loads_and_names_its_systems_under_test(example: Path) -> None:
    config = load_run_config(example)

    summary = config.summary()
    assert summary["file"] == str(example)
    claimed = {actor for system in config.systems for actor in system.actors}
    assert claimed == {actor.name for actor in config.suts}
    for system in summary["systems_under_test"]:
        assert set(system["endpoints"]) == set(system["claims"])
    json.dumps(summary)


def test_there_is_an_example_per_user_type() -> None:
    suts = {path.name: {a.name for a in load_run_config(path).suts} for path in EXAMPLES}
    assert suts == {
        "run-vendor-sender.toml": {"sender"},
        "run-vendor-receiver.toml": {"receiver"},
        "run-vendor-repository.toml": {"repository"},
        "run-hospital-acceptance.toml": {
            "sender",
            "receiver",
            "source_pacs",
            "destination_pacs",
        },
        "run-standards-body.toml": set(),
    }


def test_examples_read_every_kind_of_setting() -> None:
    by_name = {path.name: load_run_config(path) for path in EXAMPLES}
    sender = by_name["run-vendor-sender.toml"].sender
    assert isinstance(sender, SenderSut)
    assert isinstance(sender.trigger, Hook)
    assert sender.trigger.argv[1:] == ("send", "--profile", "connectathon")
    assert sender.token_inbox == HttpInbox(host="127.0.0.1", port=8700)
    assert str(sender.move_destination) == "ACME_SEND@127.0.0.1:11120"
    receiver = by_name["run-vendor-receiver.toml"].receiver
    assert isinstance(receiver, ReceiverSut)
    assert isinstance(receiver.token_delivery, Operator)
    assert receiver.wait_timeout == 1200  # from [run.timeouts] wait
    assert receiver.receipt
    repository = by_name["run-vendor-repository.toml"].repository
    assert isinstance(repository, RepositorySut)
    assert repository.tls.client_key is not None
    hospital = by_name["run-hospital-acceptance.toml"]
    assert isinstance(hospital.sender, SenderSut)
    assert isinstance(hospital.sender.token_inbox, QrImageInbox)
    assert isinstance(hospital.source_pacs, PacsSut)
    assert [b.name for b in hospital.budgets.transfers] == ["small", "ct", "large"]


def test_default_config_simulates_everything_on_free_loopback_ports(tmp_path: Path) -> None:
    config = RunConfig.default(tmp_path)

    assert config.suts == ()
    assert config.systems == ()
    assert [config.actor(name).mode for name in ACTOR_NAMES] == [Mode.SIMULATED] * 5
    for name in ("repository", "receiver", "source_pacs", "destination_pacs"):
        actor = config.actor(name)
        assert isinstance(actor, SimulatedServer)
        assert (actor.host, actor.port) == ("127.0.0.1", 0)
    assert isinstance(config.source_pacs, SimulatedPacs)
    assert config.source_pacs.ae_title != config.destination_pacs.ae_title
    assert config.facilities.issuer.facility.id != config.facilities.recipient.facility.id
    assert config.run.output_dir == tmp_path
    assert config.summary()["systems_under_test"] == []


def test_an_empty_file_is_the_default_configuration_beside_it(tmp_path: Path) -> None:
    config = load_run_config(write(tmp_path, ""))

    assert config.actors == RunConfig.default().actors
    assert config.run.output_dir == tmp_path / "cloudpdi-results"
    assert config.source == tmp_path / "run.toml"


def test_unknown_actor_name_is_refused() -> None:
    with pytest.raises(ValueError, match="the actors are sender"):
        RunConfig.default().actor("pacs")


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[sendr]\nmode = 'sut'", "sendr", "did you mean 'sender'?"),
        ("[run]\noperater = 'x'", "run.operater", "did you mean 'operator'?"),
        ("[run.timeouts]\nnetwrk = 5", "run.timeouts.netwrk", "did you mean 'network'?"),
        ("version = 2", "version", "version 1"),
        ("[run]\nlabel = ' '", "run.label", "must not be blank"),
        ("[run]\nseed = -1", "run.seed", "from 0 to"),
        ("[run]\nseed = 1.5", "run.seed", "an integer"),
        ("[run.timeouts]\nwait = 0", "run.timeouts.wait", "positive number of seconds"),
        ("[run.timeouts]\nwait = nan", "run.timeouts.wait", "positive number of seconds"),
        ("[sender]\nmode = 'real'", "sender.mode", "one of 'simulated', 'sut'"),
        ("[sender]\ntrigger = {}", "sender.trigger", "not a setting of a simulated sender"),
        ("[repository]\nhost = '0.0.0.0'", "repository.host", "SSH tunnel"),
        ("[repository]\nhost = '192.0.2.1'", "repository.host", "loopback only"),
        ("[receiver]\nhost = 'localhost'", "receiver.host", "loopback IP address"),
        ("[receiver]\nport = 65536", "receiver.port", "from 0 to 65535"),
        ("[source_pacs]\nport = -1", "source_pacs.port", "from 0 to 65535"),
        ("[source_pacs]\nport = true", "source_pacs.port", "an integer"),
        ("[source_pacs]\nae_title = 'A_TITLE_THAT_IS_TOO_LONG'", "source_pacs.ae_title", "1 to 16"),
        ("[source_pacs]\nae_title = 'BACK\\\\SLASH'", "source_pacs.ae_title", "no backslash"),
        (REPOSITORY_SUT, "repository.url", "is required"),
        (REPOSITORY_SUT + "url = 'ftp://repo.example/'", "repository.url", "http:// or https://"),
        (REPOSITORY_SUT + "url = 'repo.example'", "repository.url", "http:// or https://"),
        (REPOSITORY_SUT + "url = 'https://h/#x'", "repository.url", "fragment"),
        (REPOSITORY_SUT + "url = 'https://h:0/'", "repository.url", "TCP port"),
        (
            REPOSITORY_SUT + "url = 'https://h/'\nhost = 'h'",
            "repository.host",
            "not a setting of a repository under test",
        ),
        (
            REPOSITORY_SUT + "url = 'https://h/'\n[repository.tls]\nclient_cert = 'c.pem'",
            "repository.tls.client_cert",
            "client_key go together",
        ),
        (SENDER_SUT + INBOX, "sender.trigger", "is required"),
        (
            "[receiver]\nmode = 'sut'\nreceipt = 'yes'\ntoken_delivery = { kind = 'operator' }",
            "receiver.receipt",
            "true or false",
        ),
        (
            RECEIVER_SUT + "[receiver.second_community]\nid = 'a b'\nport = 8601",
            "receiver.second_community.id",
            "holds no spaces",
        ),
        (
            RECEIVER_SUT + "[receiver.second_community]\nid = 'jp.x'\nport = 0",
            "receiver.second_community.port",
            "from 1 to 65535",
        ),
        (
            RECEIVER_SUT + "[receiver.second_community]\nid = 'jp.cloudpdi.test'\nport = 8601",
            "receiver.second_community.id",
            "the run's own community",
        ),
        (
            RECEIVER_SUT + "[receiver.second_community]\nid = 'jp.x'",
            "receiver.second_community.port",
            "is required",
        ),
        (SENDER_SUT + TRIGGER, "sender.token_inbox", "is required"),
        (SENDER_SUT + "trigger = { kind = 'shell' }\n" + INBOX, "sender.trigger.kind", "'hook'"),
        (SENDER_SUT + "trigger = { kind = 'hook' }\n" + INBOX, "sender.trigger.argv", "required"),
        (
            SENDER_SUT + "trigger = { kind = 'hook', argv = [] }\n" + INBOX,
            "sender.trigger.argv",
            "non-empty list of strings",
        ),
        (
            SENDER_SUT + "trigger = { kind = 'hook', argv = 'send --all' }\n" + INBOX,
            "sender.trigger.argv",
            "a list of strings",
        ),
        (
            SENDER_SUT + "trigger = { kind = 'hook', argv = ['send', 3] }\n" + INBOX,
            "sender.trigger.argv[1]",
            "must be a string",
        ),
        (
            SENDER_SUT + "trigger = { kind = 'hook', argv = ['send', ''] }\n" + INBOX,
            "sender.trigger.argv[1]",
            "must not be blank",
        ),
        (
            SENDER_SUT + INBOX + TRIGGER + "env = { CLOUDPDI_STUDY = 'x' }",
            "sender.trigger.env.CLOUDPDI_STUDY",
            "set by the harness",
        ),
        (
            SENDER_SUT + INBOX + TRIGGER + "env = { 'BAD-NAME' = 'x' }",
            "sender.trigger.env.BAD-NAME",
            "environment variable name",
        ),
        (SENDER_SUT + INBOX + TRIGGER + "timeout = -5", "sender.trigger.timeout", "positive"),
        (
            SENDER_SUT + "trigger = { kind = 'operator', argv = ['x'] }\n" + INBOX,
            "sender.trigger.argv",
            "not a setting of an operator trigger",
        ),
        (
            SENDER_SUT + TRIGGER + "[sender.token_inbox]\nkind = 'http'\nhost = '10.1.1.1'",
            "sender.token_inbox.host",
            "loopback",
        ),
        (
            SENDER_SUT + TRIGGER + "[sender.token_inbox]\nkind = 'folder'",
            "sender.token_inbox.path",
            "is required",
        ),
        (
            SENDER_SUT + TRIGGER + INBOX + "[sender.move_destination]\nae_title = 'A'\nhost = 'h'",
            "sender.move_destination.port",
            "is required",
        ),
        (
            SENDER_SUT + "wait_timeout = true\n" + TRIGGER + INBOX,
            "sender.wait_timeout",
            "a number",
        ),
        (SENDER_SUT + "wait_timeout = 0\n" + TRIGGER + INBOX, "sender.wait_timeout", "positive"),
        (SENDER_SUT + TRIGGER + INBOX + "[sender.slip]\n", "sender.slip.folder", "is required"),
        (SENDER_SUT + "slip = 'slips'\n" + TRIGGER + INBOX, "sender.slip", "a table"),
        (
            SENDER_SUT + TRIGGER + INBOX + "[sender.slip]\npath = 'slips'\n",
            "sender.slip.path",
            "not a setting of where the sender prints its token slip",
        ),
        (
            "[destination_pacs]\nmode = 'sut'\nae_title = 'P'\nhost = 'pacs.example'\nport = 0",
            "destination_pacs.port",
            "from 1 to 65535",
        ),
        (
            "[destination_pacs]\nmode = 'sut'\nae_title = 'P'\nhost = 'bad host!'\nport = 104",
            "destination_pacs.host",
            "IP address or a host name",
        ),
        (
            "[destination_pacs]\nmode = 'sut'\nae_title = 'P'\nhost = 'h'\nport = 104",
            "destination_pacs.mode",
            "no [[sut]] claims it",
        ),
        (
            "[[sut]]\nvendor = 'A'\nproduct = 'B'\nversion = '1'\nclaims = { sender = [] }",
            "sut[0].claims.sender",
            "the run simulates this actor",
        ),
        (
            SENDER_SUT + TRIGGER + INBOX + SENDER_SUT.split("[sender]")[0],
            "sut[1].claims.sender",
            "claimed by sut[0] already",
        ),
        (
            "[sut]\nvendor = 'A'\nproduct = 'B'\nversion = '1'",
            "sut",
            "write [[sut]] for each",
        ),
        (
            "[[sut]]\nvendor = 'A'\nproduct = 'B'\nversion = '1'",
            "sut[0].claims",
            "at least one actor",
        ),
        (
            "[[sut]]\nvendor = 'A'\nproduct = 'B'\nversion = '1'\nclaims = { recever = [] }",
            "sut[0].claims.recever",
            "is not an actor",
        ),
        (
            "[[sut]]\nvendor = 'A'\nproduct = 'B'\nversion = '1'\nclaims = { sender = ['Core'] }",
            "sut[0].claims.sender",
            "lower-case",
        ),
        ("[[sut]]\nproduct = 'B'\nversion = '1'", "sut[0].vendor", "is required"),
        ("[facilities.issuer]\nid = '1310000009'", "facilities.issuer.name", "is required"),
        ("[facilities.issuer]\nid = '-x'\nname = 'n'", "facilities.issuer.id", "facility.id"),
        ('[facilities.issuer]\nid = "x"\nname = "a\\u0007"', "facilities.issuer.name", "token"),
        (
            "[facilities.recipient]\nid = '1310000001'\nname = 'same as the issuer'",
            "facilities.recipient.id",
            "must differ",
        ),
        (
            "[facilities.issuer]\nbearer_key = { env = 'A', file = 'k' }",
            "facilities.issuer.bearer_key",
            "exactly one",
        ),
        (
            "[facilities.issuer]\nbearer_key = { env = 'NOT A NAME' }",
            "facilities.issuer.bearer_key.env",
            "environment variable name",
        ),
        (
            "[facilities.issuer]\nbearer_key = { vault = 'k' }",
            "facilities.issuer.bearer_key.vault",
            "not a setting of a key reference",
        ),
        ("[community]\nid = 'has space'", "community.id", "no spaces"),
        (
            "[community.directory]\n'jp.other' = 'ftp://x/'",
            "community.directory.jp.other",
            "http:// or https://",
        ),
        (
            "[community]\nid = 'jp.a'\n[community.directory]\n'jp.a' = 'https://x/'",
            "community.directory.jp.a",
            "the run's own community",
        ),
        ("[budgets]\nscenario_timeout = 0", "budgets.scenario_timeout", "positive"),
        (
            "[budgets]\ncontinue_after_timeout = 'yes'",
            "budgets.continue_after_timeout",
            "true or false",
        ),
        ("[budgets.scenario_timeouts]\n'a b' = 5", "budgets.scenario_timeouts.a b", "tag"),
        ("[budgets.transfer.small]\nmax_size_mb = 5", "budgets.transfer.small", "give"),
        (
            "[budgets.transfer.small]\nmin_throughput_mb_s = -1",
            "budgets.transfer.small.min_throughput_mb_s",
            "positive number",
        ),
        (
            "[budgets.transfer.a]\nmax_latency_s = 5\n[budgets.transfer.b]\nmax_latency_s = 9",
            "budgets.transfer",
            "distinct",
        ),
        ("[budgets.transfer.Big]\nmax_latency_s = 5", "budgets.transfer.Big", "lower-case"),
    ],
)
def test_each_rule_names_the_file_the_key_and_the_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    error = load_error(tmp_path, text)

    assert (error.key, error.file) == (key, tmp_path / "run.toml")
    assert problem in error.problem
    assert str(error) == f"{tmp_path / 'run.toml'}: {key}: {error.problem}"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (f"[facilities.issuer]\nbearer_key = '{SENTINEL}'", "facilities.issuer.bearer_key"),
        (
            f"[facilities.recipient]\nprivate_key = '-----BEGIN PRIVATE KEY-----{SENTINEL}'",
            "facilities.recipient.private_key",
        ),
        (
            REPOSITORY_SUT + f"url = 'https://user:{SENTINEL}@repo.example/'",
            "repository.url",
        ),
        (
            SENDER_SUT + INBOX + TRIGGER + f"env = {{ TOKEN = '-----BEGIN {SENTINEL}' }}",
            "sender.trigger.env.TOKEN",
        ),
        (
            SENDER_SUT + f"trigger = {{ kind = 'operator', prompt = {SENTINEL} }}\n" + INBOX,
            "",
        ),
    ],
)
def test_inline_key_material_is_refused_without_being_quoted(
    tmp_path: Path, text: str, key: str
) -> None:
    error = load_error(tmp_path, text)

    assert error.key == key
    assert SENTINEL not in str(error)
    assert SENTINEL not in repr(error.args)


def test_an_inline_bearer_key_is_explained(tmp_path: Path) -> None:
    error = load_error(tmp_path, f"[facilities.issuer]\nbearer_key = '{SENTINEL}'")

    assert 'env = "NAME"' in error.problem
    assert "reports" in error.problem


def test_unreadable_and_malformed_files_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(RunConfigError, match="cannot read the file") as caught:
        load_run_config(missing)
    assert caught.value.file == missing

    assert "not valid TOML" in load_error(tmp_path, "[run\n").problem
    (tmp_path / "run.toml").write_bytes(b"label = '\xff'")
    with pytest.raises(RunConfigError, match="not UTF-8"):
        load_run_config(tmp_path / "run.toml")


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "run.toml"
    path.write_text(
        SENDER_SUT
        + "[sender.trigger]\nkind = 'hook'\nargv = ['./bin/send', 'a/b']\n"
        + INBOX
        + "[sender.slip]\nfolder = 'slips'\n"
        + "[run]\noutput = 'out'\n"
        + "[facilities.issuer]\nprivate_key = 'pki/k.pem'\npublic_key = '/abs/p.pem'\n"
        + "bearer_key = { file = 'keys/uploader.key' }\n",
        encoding="utf-8",
    )

    config = load_run_config(path)

    assert config.run.output_dir == folder / "out"
    assert isinstance(config.sender, SenderSut)
    assert config.sender.trigger == Hook(argv=(str(folder / "bin/send"), "a/b"))
    assert config.sender.token_inbox == FolderInbox(path=folder / "inbox")
    assert config.sender.slip_folder == folder / "slips"
    assert config.summary()["actors"]["sender"]["endpoint"].endswith(f"printed to {folder}/slips")
    issuer = config.facilities.issuer
    assert issuer.private_key == folder / "pki/k.pem"
    assert issuer.public_key == Path("/abs/p.pem")
    assert issuer.bearer_key == SecretRef(file=folder / "keys/uploader.key")


def test_programs_found_on_path_are_left_alone(tmp_path: Path) -> None:
    config = load_run_config(write(tmp_path, SENDER_SUT + TRIGGER + INBOX))

    assert isinstance(config.sender, SenderSut)
    assert config.sender.trigger == Hook(argv=("send",))


def test_actor_timeouts_default_to_the_run_timeouts(tmp_path: Path) -> None:
    text = SENDER_SUT + TRIGGER + INBOX + "[run.timeouts]\nwait = 42\nhook = 7\n"

    config = load_run_config(write(tmp_path, text))

    assert isinstance(config.sender, SenderSut)
    assert (config.sender.wait_timeout, config.sender.trigger.timeout) == (42, 7)
    assert config.run.timeouts.network == 60


def test_summary_shows_references_but_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "recipient.key").write_text(SENTINEL + "-file\n", encoding="utf-8")
    monkeypatch.setenv("ISSUER_KEY", SENTINEL + "-env")
    text = (
        SENDER_SUT
        + INBOX
        + TRIGGER
        + f"env = {{ VENDOR_TOKEN = '{SENTINEL}-hook' }}\n"
        + "[facilities.issuer]\nbearer_key = { env = 'ISSUER_KEY' }\n"
        + "[facilities.recipient]\nbearer_key = { file = 'recipient.key' }\n"
    )
    config = load_run_config(write(tmp_path, text))

    summary = json.dumps(config.summary())

    assert SENTINEL not in summary
    assert SENTINEL not in repr(config)
    facilities = config.summary()["facilities"]
    assert facilities["issuer"]["bearer_key"] == {"env": "ISSUER_KEY"}
    assert facilities["recipient"]["bearer_key"] == {"file": str(tmp_path / "recipient.key")}
    assert config.summary()["actors"]["sender"]["trigger"]["env"] == ["VENDOR_TOKEN"]
    # The references do lead to the keys.
    assert resolve_secret(config.facilities.issuer.bearer_key) == SENTINEL + "-env"
    assert resolve_secret(config.facilities.recipient.bearer_key) == SENTINEL + "-file"


def test_resolve_secret_names_the_reference_never_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CPDI_TEST_UNSET", raising=False)
    monkeypatch.setenv("CPDI_TEST_BLANK", "  \n")
    (tmp_path / "blank.key").write_text("\n", encoding="utf-8")

    for ref, problem in [
        (SecretRef(env="CPDI_TEST_UNSET"), "environment variable CPDI_TEST_UNSET"),
        (SecretRef(env="CPDI_TEST_BLANK"), "unset or empty"),
        (SecretRef(file=tmp_path / "absent.key"), "No such file"),
        (SecretRef(file=tmp_path / "blank.key"), "unset or empty"),
    ]:
        with pytest.raises(SecretUnavailable, match=problem):
            resolve_secret(ref)


def test_a_secret_file_that_is_not_text_is_refused_without_quoting_it(tmp_path: Path) -> None:
    (tmp_path / "binary.key").write_bytes(SENTINEL.encode() + b"\xff")

    with pytest.raises(SecretUnavailable) as caught:
        resolve_secret(SecretRef(file=tmp_path / "binary.key"))

    assert SENTINEL not in str(caught.value)


def test_configurations_built_in_code_obey_the_same_rules() -> None:
    with pytest.raises(RunConfigError, match="loopback") as caught:
        SimulatedServer(name="repository", host="10.0.0.1")
    assert (caught.value.key, caught.value.file) == ("host", None)
    with pytest.raises(RunConfigError, match="no \\[\\[sut\\]\\] claims it"):
        RunConfig(
            run=RunConfig.default().run,
            receiver=ReceiverSut(name="receiver", token_delivery=Operator()),
        )
    with pytest.raises(RunConfigError, match="another actor"):
        RunConfig(run=RunConfig.default().run, receiver=SimulatedServer(name="repository"))


def test_a_hook_is_immutable_and_hides_its_environment_values() -> None:
    hook = Hook(argv=["send", "--all"], env={"VENDOR_TOKEN": SENTINEL})

    assert hook.argv == ("send", "--all")
    assert SENTINEL not in repr(hook)
    with pytest.raises(TypeError):
        hook.env["OTHER"] = "x"  # type: ignore[index]


def test_transfer_budgets_pick_the_smallest_class_that_holds_the_size() -> None:
    budgets = Budgets(
        transfers=(
            TransferBudget(name="large", min_throughput_mb_s=8),
            TransferBudget(name="small", max_size_mb=10, max_latency_s=5),
            TransferBudget(name="medium", max_size_mb=1000, max_latency_s=60),
        )
    )

    assert [b.name for b in budgets.transfers] == ["small", "medium", "large"]
    assert budgets.transfer_budget(10_000_000).name == "small"
    assert budgets.transfer_budget(10_000_001).name == "medium"
    assert budgets.transfer_budget(5 * 10**9).name == "large"
    assert Budgets(transfers=budgets.transfers[1:2]).transfer_budget(10**9 + 1) is None


def test_a_scenario_gets_the_longest_timeout_its_tags_allow() -> None:
    budgets = Budgets(scenario_timeout=60, scenario_timeouts={"@large": 3600, "slow": 600})

    assert budgets.timeout_for(["@large", "@slow"]) == 3600
    assert budgets.timeout_for(["slow", "CPDI-ENC-01"]) == 600
    assert budgets.timeout_for(["CPDI-ENC-01"]) == 60


def test_the_documented_reference_is_a_valid_configuration(tmp_path: Path) -> None:
    readme = (EXAMPLES[0].parent / "README.md").read_text(encoding="utf-8")
    reference = readme.split("```toml\n", 1)[1].split("```", 1)[0]

    config = load_run_config(write(tmp_path, reference))

    assert [actor.name for actor in config.suts] == ["sender", "repository", "receiver"]
    assert config.budgets.timeout_for(["@large"]) == 3600
