"""Binds features/repository/access.feature: who may store, fetch and withdraw a document."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("repository/access.feature", features_base_dir=str(FEATURES_ROOT))
