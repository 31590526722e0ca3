"""Binds features/receiver/import.feature: the receiver imports a referral into its PACS."""

from pytest_bdd import scenario

from steps.plugin import FEATURES_ROOT

FEATURE = str(FEATURES_ROOT / "receiver" / "import.feature")


@scenario(FEATURE, "The receiver imports a <modality> study")
def test_the_receiver_imports_a_study() -> None:
    """Every modality's images arrive whole."""


@scenario(FEATURE, "The receiver asks the repository of the token's community")
def test_the_receiver_asks_the_tokens_community() -> None:
    """Only the repository of the token's community is asked."""


@scenario(FEATURE, "A token of a community the receiver does not know is refused")
def test_an_unknown_community_is_refused() -> None:
    """Nothing is asked of any repository."""
