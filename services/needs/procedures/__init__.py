"""Assistance procedures on legal clocks (法定时限): each step of, say, a dibao application has
a limit counted in Chinese working days or calendar days; overdue steps are escalated."""
