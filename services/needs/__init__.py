"""Needs service: household files (一户一档), person cases (一人一案), visits, needs, referrals."""
