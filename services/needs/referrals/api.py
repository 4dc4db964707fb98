"""HTTP routes of referrals."""

from fastapi import APIRouter

router = APIRouter(tags=["referrals"])
