"""Binds features/repository/storage.feature: ciphertext stored and served by document ID."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("repository/storage.feature", features_base_dir=str(FEATURES_ROOT))
