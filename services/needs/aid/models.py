"""Tables of the aid chain: benefits recorded by hand or imported (referrals bring their own)."""

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.needs.models import Base
from shared.clock import utc_now
from shared.crypto import EncryptedText


class Benefit(Base):
    """A benefit or service (救助/帮扶) a household received outside Lianjie's referrals: a
    department's dibao payment, a charity's gift recorded by the station, an imported list."""

    __tablename__ = "benefit"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("household.id"), index=True)
    person_id: Mapped[str | None] = mapped_column(String(36))
    category: Mapped[str] = mapped_column(String(64), index=True)
    provider: Mapped[str] = mapped_column(String(200))
    provider_kind: Mapped[str] = mapped_column(String(20))
    start_on: Mapped[date] = mapped_column(Date)
    end_on: Mapped[date | None] = mapped_column(Date)
    amount_yuan: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(EncryptedText, default="")
    source: Mapped[str] = mapped_column(String(20))
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
