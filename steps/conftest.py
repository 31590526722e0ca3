"""A plain ``pytest`` run of the bound feature modules uses the conformance plugin too."""

pytest_plugins = ("steps.plugin",)
