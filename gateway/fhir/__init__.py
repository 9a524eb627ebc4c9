"""FHIR RESTful interactions over the resource store."""
