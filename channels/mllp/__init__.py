"""MLLP (HL7 v2 Minimal Lower Layer Protocol) source and destination, over TCP or TLS.

Importing this package registers the ``mllp`` source and the ``mllp`` destination.
"""

from __future__ import annotations

from channels.mllp import client as client
from channels.mllp import server as server
from channels.mllp.client import MllpDestination
from channels.mllp.server import MllpSource

__all__ = ["MllpDestination", "MllpSource", "client", "server"]
