"""The pages' cast (tests/support/pages.py) for every test here."""

from tests.support.pages import app, plan_id, settings, sign_in, token  # noqa: F401
