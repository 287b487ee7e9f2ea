"""File-drop source: a polled directory, acknowledged by moving each file after its commit.

Importing this package registers the ``directory`` source.
"""

from __future__ import annotations

from channels.directory.source import DirectorySource

__all__ = ["DirectorySource"]
