"""FHIR helpers used by maps and the FHIR destination: FR Core conformance checks and the
update (merge) mechanism that makes a message change only what it carries."""
