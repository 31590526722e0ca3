"""Binds features/sender/transfer.feature: uploads, fresh IDs and secrets, the token's items."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("sender/transfer.feature", features_base_dir=str(FEATURES_ROOT))
