"""Benchmarks of the matcher and the referral loop, side by side with what a county would use
instead (PostgreSQL/PostGIS, a NumPy scan). Run with `make bench` or `python -m bench --help`."""
