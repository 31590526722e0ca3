"""Binds features/repository/storage.feature: ciphertext stored and served by document ID."""

from pytest_bdd import scenario

from steps.plugin import FEATURES_ROOT

FEATURE = "repository/storage.feature"


@scenario(
    FEATURE, "An interrupted upload resumes where it broke", features_base_dir=str(FEATURES_ROOT)
)
def test_an_interrupted_upload_resumes() -> None:
    """The repository keeps what it verified and the upload goes on from there."""


@scenario(
    FEATURE, "An interrupted download resumes where it broke", features_base_dir=str(FEATURES_ROOT)
)
def test_an_interrupted_download_resumes() -> None:
    """The repository serves the rest of the document by range."""
