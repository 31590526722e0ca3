"""Binds features/receiver/tokens.feature: a broken token is refused before any download."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("receiver/tokens.feature", features_base_dir=str(FEATURES_ROOT))
