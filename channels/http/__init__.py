"""HTTP intake: ``POST`` a document, ``202`` with its message id once committed.

Importing this package registers the ``http`` source. :class:`channels.http.server.AppServer`
runs an ASGI app in the engine's loop (also used by the test DMP endpoint).
"""

from __future__ import annotations

from channels.http.source import HttpSource

__all__ = ["HttpSource"]
