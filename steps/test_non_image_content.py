"""Binds features/cross/non_image_content.feature: documents travel with or without images."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("cross/non_image_content.feature", features_base_dir=str(FEATURES_ROOT))
