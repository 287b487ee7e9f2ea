"""``python -m engine.cli`` runs the ``passerelle`` command."""

from engine.cli import main

main()
