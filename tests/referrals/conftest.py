"""Fixtures of the referral tests (defined in `domain.py`)."""

from tests.referrals.domain import bus, client, clock, nats_url, sessions

__all__ = ["bus", "client", "clock", "nats_url", "sessions"]
