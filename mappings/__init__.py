"""Pure mapping code: typed input documents to FHIR resources (plain dicts) and back. No I/O."""
