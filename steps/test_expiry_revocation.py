"""Binds features/cross/expiry_revocation.feature: documents and tokens expire, senders revoke."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("cross/expiry_revocation.feature", features_base_dir=str(FEATURES_ROOT))
