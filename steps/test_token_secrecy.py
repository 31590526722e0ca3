"""Binds features/cross/token_secrecy.feature: the secret stays with the token."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("cross/token_secrecy.feature", features_base_dir=str(FEATURES_ROOT))
