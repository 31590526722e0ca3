"""The simulated Cloud-PDI actors: each one runs in-process for tests and as its own process."""
