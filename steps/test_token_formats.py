"""Binds features/cross/token_formats.feature: one token, the same items in every form."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("cross/token_formats.feature", features_base_dir=str(FEATURES_ROOT))
