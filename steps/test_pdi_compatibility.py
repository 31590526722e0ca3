"""Binds features/cross/pdi_compatibility.feature: file sets that any PDI reader can read."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("cross/pdi_compatibility.feature", features_base_dir=str(FEATURES_ROOT))
