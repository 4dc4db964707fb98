"""Contracts between services: subjects and pydantic models, one module per subject family.

A breaking change is a new subject (`.v2`) published beside the old one until consumers move.
"""
