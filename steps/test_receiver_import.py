"""Binds features/receiver/import.feature: the receiver imports a referral into its PACS."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("receiver/import.feature", features_base_dir=str(FEATURES_ROOT))
