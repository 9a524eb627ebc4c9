"""MedCom notice messages (pure builders and parsers)."""
