"""Fixtures of the referral tests (defined in `domain.py`)."""

from tests.referrals.domain import sessions

__all__ = ["sessions"]
