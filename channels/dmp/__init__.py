"""DMP (Dossier Médical Partagé) destination: IHE XDS.b ITI-41 with MTOM, WS-Addressing,
a signed VIHF SAML assertion and mutual TLS.

Importing this package registers the ``dmp_xds`` destination.
"""

from __future__ import annotations

from channels.dmp.destination import DmpDestination

__all__ = ["DmpDestination"]
