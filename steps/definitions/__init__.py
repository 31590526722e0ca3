"""Step definitions: every module here is loaded as a pytest plugin by ``steps.plugin``."""
