"""Code shared by the tests (not tests themselves): importable as `helpers.*` because
pyproject.toml puts tests/ on pytest's `pythonpath`. Shared fixtures are in tests/conftest.py."""
