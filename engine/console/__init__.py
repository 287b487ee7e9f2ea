"""The operator console: admin API, web dashboard, metrics and probes.

Layout (one concern per module; see docs/console.md and docs/console-api.md):

- :mod:`engine.console.context` — what every handler gets: the store, the config, the
  patient-index secret and, inside ``passerelle run``, a handle on the running engine.
- :mod:`engine.console.app` — builds the Starlette application from the three route sets:
  ``engine.console.api`` (JSON admin API, ``/api/v1``), ``engine.console.web`` (HTML pages
  and static files, ``/``) and ``engine.console.metrics`` (``/metrics``, ``/healthz``,
  ``/readyz``).
"""
