"""Root conftest: load the pytest glue in ``fixtures/`` (not an installed package; see design §2)."""

pytest_plugins = ["fixtures.options", "fixtures.platform", "fixtures.clusters", "fixtures.runs", "fixtures.suites"]
