"""MSSanté secure messaging: the ``mssante`` source (an applicative mailbox read over IMAP)
and the ``mssante`` destination (SMTP), exchanging CDA documents in IHE_XDM.ZIP archives.

Importing this package registers both. See ``docs/mssante.md``.
"""

from __future__ import annotations

from channels.mssante import smtp as smtp
from channels.mssante import source as source
from channels.mssante import transforms as transforms
from channels.mssante.smtp import MssanteDestination
from channels.mssante.source import MssanteSource

__all__ = ["MssanteDestination", "MssanteSource", "smtp", "source", "transforms"]
