"""The FHIR conformance resources we publish (StructureDefinitions, ValueSets, CodeSystems) as package data."""
