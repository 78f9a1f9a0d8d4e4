"""Root conftest: this checkout's suites and tests run on the brokerchaos pytest plugin (see fixtures/)."""

from fixtures import plugin_modules

pytest_plugins = plugin_modules()
