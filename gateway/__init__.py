"""The care-plan interoperability gateway service: FHIR store, intake, delivery and CLI (all I/O lives here)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
