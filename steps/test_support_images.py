"""Binds features/cross/support_images.feature: support images never pass for originals."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("cross/support_images.feature", features_base_dir=str(FEATURES_ROOT))
