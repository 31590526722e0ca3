"""The receiver configuration, in code and in a TOML file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudpdi.dimse import DicomPeer
from cloudpdi.reconcile import ReconcileMode, Unmatched
from cloudpdi.token import Facility
from simulators.receiver_config import (
    ReceiverConfig,
    ReceiverConfigError,
    load_receiver_config,
)

FULL = """
output_dir = "received"
work_dir = "work"
destination_pacs = "CPDI_PACS@127.0.0.1:11112"
facility_key = "keys/facility.pem"
recipient_key = "very-secret-bearer-key"
trust_token_repository = true
import_on_validation_errors = true
calling_ae = "MY_RECEIVER"

[facility]
id = "1310000002"
name = "横浜市民病院"

[communities]
"jp-test" = "http://127.0.0.1:8600"

[trusted_issuers]
"1310000001" = "keys/issuer.pem"

[reconciliation]
mode = "mapping"
local_issuer = "YOKOHAMA"
unmatched = "keep"

[reconciliation.mapping]
"CPDI0001" = "L-000123"
"""

MINIMAL = """
output_dir = "received"

[facility]
id = "1310000002"
name = "receiving hospital"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf" / "receiver.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_option_is_read_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = load_receiver_config(write(tmp_path, FULL))
    here = tmp_path / "conf"
    assert config.facility == Facility("1310000002", "横浜市民病院")
    assert config.output_dir == here / "received"
    assert config.work_folder == here / "work"
    assert config.destination_pacs == DicomPeer("CPDI_PACS", "127.0.0.1", 11112)
    assert config.facility_key_path == here / "keys" / "facility.pem"
    assert config.trusted_issuers == {"1310000001": here / "keys" / "issuer.pem"}
    assert config.community_directory == {"jp-test": "http://127.0.0.1:8600"}
    assert config.recipient_key == "very-secret-bearer-key"
    assert config.trust_token_repository and config.import_on_validation_errors
    assert config.calling_ae == "MY_RECEIVER"
    reconcile = config.reconciliation
    assert reconcile.mode is ReconcileMode.MAPPING
    assert dict(reconcile.mapping) == {"CPDI0001": "L-000123"}
    assert (reconcile.local_issuer, reconcile.unmatched) == ("YOKOHAMA", Unmatched.KEEP)
    assert "very-secret-bearer-key" not in repr(config)


def test_defaults_are_no_pacs_and_no_reconciliation(tmp_path: Path) -> None:
    config = load_receiver_config(write(tmp_path, MINIMAL))
    assert config.destination_pacs is None
    assert config.reconciliation.mode is ReconcileMode.OFF
    assert config.work_folder == tmp_path / "conf" / "received" / ".work"
    assert not config.trust_token_repository
    assert config.calling_ae == "CPDI_RECEIVER"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('output_dir = "x"\n', r"\[facility\] must be a table"),
        (MINIMAL.replace('output_dir = "received"', ""), "output_dir must be a non-empty string"),
        (MINIMAL + '[communities]\n"c" = "ftp://host"\n', "http"),
        (MINIMAL + '[reconciliation]\nmode = "query"\n', "needs a destination PACS"),
        (MINIMAL + '[reconciliation]\nmode = "guess"\n', "ReconcileMode"),
        ('destination_pacs = "nonsense"\n' + MINIMAL, "AE@host:port"),
        ("recipient_key = 42\n" + MINIMAL, "recipient_key must be a non-empty string"),
        ("output_dir = [", "TOMLDecodeError"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ReceiverConfigError, match=message) as caught:
        load_receiver_config(path)
    assert str(path) in str(caught.value)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReceiverConfigError, match="cannot read"):
        load_receiver_config(tmp_path / "nope.toml")


def test_in_code_the_same_checks_apply(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="AE title"):
        ReceiverConfig(
            facility=Facility("1", "x"), output_dir=tmp_path, calling_ae="FAR_TOO_LONG_AE_TITLE"
        )
