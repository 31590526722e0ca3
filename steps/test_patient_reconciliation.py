"""Binds features/cross/patient_reconciliation.feature: local patient IDs on import."""

from pytest_bdd import scenarios

from steps.plugin import FEATURES_ROOT

scenarios("cross/patient_reconciliation.feature", features_base_dir=str(FEATURES_ROOT))
