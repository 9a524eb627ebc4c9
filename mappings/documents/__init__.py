"""Typed input documents: frozen dataclasses that parsers produce and mappings consume."""
