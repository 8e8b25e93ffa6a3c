"""Shared fixtures live in plugin modules beside this file, one per area."""

pytest_plugins = ["db_fixtures", "fix_fixtures", "venue_fixtures", "console_fixtures"]
