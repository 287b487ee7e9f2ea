"""The ``fhir`` destination: FHIR R4 REST (transaction Bundles or resource by resource),
OAuth2 client credentials and/or mutual TLS. See docs/fhir.md."""

from __future__ import annotations

from channels.fhir.config import FhirDestinationConfig, FhirTlsConfig, OAuth2Config
from channels.fhir.destination import FhirDestination

__all__ = ["FhirDestination", "FhirDestinationConfig", "FhirTlsConfig", "OAuth2Config"]
