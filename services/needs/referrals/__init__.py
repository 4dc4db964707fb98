"""Referrals (转介): the closed loop from match to outcome, with the rescue alliance's review."""
