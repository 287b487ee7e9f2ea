"""Rule-based alerts from the store's figures (see docs/alerts.md).

- :mod:`engine.alerting.rules` — the rules, pure functions of the figures and a clock;
- :mod:`engine.alerting.notifiers` — webhook and e-mail notifiers;
- :mod:`engine.alerting.evaluator` — the loop: lease, deduplicated state, notices.

:mod:`engine.alerts` (``engine.alert_command``) is the other, older channel: immediate
per-process events (store full, circuit opened), without rules nor deduplication.
"""

from engine.alerting.evaluator import AlertEvaluator
from engine.alerting.notifiers import Notice, build_notifiers

__all__ = ["AlertEvaluator", "Notice", "build_notifiers"]
