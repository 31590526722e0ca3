"""Binds features/sender/file_set.feature: the file set in the envelope, judged as PDI media."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("sender/file_set.feature", features_base_dir=str(FEATURES_ROOT))
