"""Retry policies bounded by count, by age, or both."""

from __future__ import annotations

import pytest

from engine.retry import RetryPolicy


def test_default_policy_is_bounded_by_a_day_not_by_a_count() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts is None and policy.max_age == 86_400
    assert not policy.exhausted(10_000, age=3600)  # a 1-hour outage: never dead
    assert policy.exhausted(3, age=86_400)
    assert policy.spent(3, 90_000) == "gave up after 3 attempts in 1.042d (max_age 1d)"


def test_count_and_age_bounds_apply_whichever_comes_first() -> None:
    policy = RetryPolicy(max_attempts=5, max_age=600)
    assert not policy.exhausted(4, age=599)
    assert policy.exhausted(5, age=1)
    assert policy.exhausted(1, age=600)
    assert policy.spent(5, 1) == "gave up after 5 attempts"
    assert RetryPolicy(max_attempts=5, max_age=None).exhausted(4, age=10**9) is False


def test_a_policy_without_any_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts or max_age"):
        RetryPolicy(max_attempts=None, max_age=None)


def test_delay_grows_is_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(initial_backoff=1, max_backoff=8)
    for attempt, base in ((1, 1), (2, 2), (3, 4), (4, 8), (9, 8)):
        assert base / 2 <= policy.delay(attempt) <= base
    assert policy.delay(1, retry_after=6) == 6
    assert policy.delay(1, retry_after=60) == 8
