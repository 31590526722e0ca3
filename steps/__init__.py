"""The step definitions of the conformance suite, and the pytest plugin that runs them.

Each ``test_<feature>.py`` module binds one feature file of ``features/`` with pytest-bdd;
:mod:`steps.plugin` starts the actors of each scenario and turns every case into a
:class:`reports.TestInstance` with its step log and evidence. The step modules stay thin: the
work is in :mod:`steps.exchange`, :mod:`steps.transfer` and :mod:`steps.searching`.
"""
