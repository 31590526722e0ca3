"""The executable specification: Gherkin features and the requirement catalog they cite."""
