"""Fixtures of the alerting tests: a dev PKI and a real SMTP server (tests.support)."""

from tests.support.smtp_server import pki, smtp

__all__ = ["pki", "smtp"]
