"""Jurisdiction in the resources service: a coordinator registers and changes only resources of
their own organization (the resource's `organization` field). Reading the library is open to
every signed-in role. An import is checked row by row once its file is read
(`importing.check_organization`)."""

from typing import Any

from fastapi import Request
from sqlalchemy import select

from services.resources.models import Resource
from shared.access import Reach, Rule, outside_scope
from shared.auth import Principal, Role
from shared.db import run_read


async def check(request: Request, principal: Principal, rule: Rule) -> None:
    """403 when a coordinator names, or writes, another organization's resource."""
    if rule.scope is not Reach.ORGANIZATION or principal.role is not Role.COORDINATOR:
        return
    own = principal.organization
    resource_id = request.path_params.get("resource_id")
    if resource_id is not None:
        found = await run_read(
            request.app.state.sessions,
            lambda s: s.execute(
                select(Resource.organization).where(Resource.id == resource_id)
            ).first(),
        )
        if found is not None and (not own or found[0] != own):
            raise outside_scope("this resource")
    writes_whole = (request.method == "POST" and request.url.path == "/resources") or (
        request.method == "PUT" and resource_id is not None
    )
    if writes_whole:
        body = await _body(request)
        if body is not None and body.get("organization") != own:
            raise outside_scope("this organization")
    elif request.method == "PATCH":
        body = await _body(request)
        if body is not None and "organization" in body and body["organization"] != own:
            raise outside_scope("this organization")


async def _body(request: Request) -> dict[str, Any] | None:
    """The JSON object of the body, or None (the route then answers 422)."""
    try:
        body: Any = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
