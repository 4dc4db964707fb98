"""What the needs service's route modules share: its settings, paging, the station filter,
ETags, the lists' filters and the answer of an edit history."""

from fastapi import Query, Request, Response
from sqlalchemy.orm import Session

from services.needs import jurisdiction, privacy, queries, service
from services.needs.cases import service as persons
from services.needs.schemas import CaseFilters, Listing, RecordChangeOut
from services.needs.settings import NeedsSettings
from shared import access_log
from shared.clock import today_of
from shared.web import Page, pages
from shared.web_db import read

STATION = Query(pattern=r"^\d{2,12}$", description="Station adcode or a prefix (county: 6 digits)")


def settings_of(request: Request) -> NeedsSettings:
    """The needs service's settings, as the app was built with them."""
    return request.app.state.settings  # type: ignore[no-any-return]


paging = pages(
    lambda request: settings_of(request).page_size_max,
    default=100,
    cap_name="LIANJIE_NEEDS_PAGE_SIZE_MAX",
)


unmask_purpose = access_log.purpose_dependency(
    privacy.Purpose, "Why full ID numbers and phones are needed"
)


def set_etag(response: Response, version: int) -> None:
    """Answer with the record's version as its ETag (sent back in If-Match to edit it)."""
    response.headers["ETag"] = f'"{version}"'


def case_filter(request: Request, filters: CaseFilters) -> queries.CaseFilter:
    """The filter of a list: the caller's area, then what they asked for."""
    fields = filters.model_dump(exclude_none=True)
    return queries.CaseFilter(area=jurisdiction.area_of(request), **fields)


def visit_rule(request: Request) -> queries.VisitRule:
    """When visits fall due, as of today, by the settings' tier intervals."""
    settings = settings_of(request)
    return queries.VisitRule(
        today_of(request.app), settings.due_window_days, settings.tier_follow_up_days
    )


async def edit_history(
    request: Request, record_type: str, record_id: str, page: Page
) -> Listing[RecordChangeOut]:
    """One page of a household's or person's edits, oldest first (404 for an unknown one)."""

    def work(s: Session) -> Listing[RecordChangeOut]:
        if record_type == "household":
            service.get_household_or_raise(session=s, household_id=record_id)
        else:
            persons.get_person_or_raise(session=s, person_id=record_id)
        rows, total = queries.history(
            session=s,
            record_type=record_type,
            record_id=record_id,
            limit=page.limit,
            offset=page.offset,
        )
        items = [RecordChangeOut.model_validate(c) for c in rows]
        return Listing(items=items, total=total, limit=page.limit, offset=page.offset)

    return await read(request, work)
