"""Use cases shared by the API and the CLI (accept a plan, read it back, ...)."""
