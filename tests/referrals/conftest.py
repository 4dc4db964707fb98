"""Fixtures of the referral tests (defined in `domain.py`)."""

from tests.referrals.domain import client, clock, sessions

__all__ = ["client", "clock", "sessions"]
