"""The presenter's page of the guided demonstration (VISIT-2): `/screen/tour`.

A full-screen dark stage: the step's page in a same-origin frame, the caption the presenter
reads at the bottom, next/previous by keyboard (presentation clickers send →/←/PageDown/
PageUp/Space). On a scenario step the presenter injects the scenario and watches its steps
arrive. Console cookie only (roles admin, manager, duty): a wall display's key opens the
screen, never the tour. The page's own JSON endpoints sit next to it; the POST carries the
console's CSRF value in the `X-CSRF-Token` header (`web.shell.check_csrf`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from cityops.screen import scenario
from cityops.screen.pages import error_page
from cityops.screen.tour_api import ScenarioIn, steps_payload
from cityops.web.shell import ConsoleUser, check_csrf, console_user, templates

router = APIRouter(include_in_schema=False)
ROLES = ("admin", "manager", "duty")


def presenter(user: ConsoleUser = Depends(console_user)) -> ConsoleUser:
    if user.role not in ROLES:
        from fastapi import HTTPException

        raise HTTPException(403, "导览演示仅限管理员、主管和值班员使用")
    return user


Presenter = Annotated[ConsoleUser, Depends(presenter)]


@router.get("/screen/tour")
def tour_page(request: Request, user: ConsoleUser = Depends(console_user), step: int = 1):
    if user.role not in ROLES:
        return error_page(request, 403, "无权访问", "导览演示仅限管理员、主管和值班员使用")
    payload = steps_payload(request)
    n = len(payload["steps"])
    config = {**payload, "csrf": user.csrf, "start": min(max(step, 1), n), "user": user.display_name,
              "not_demo": scenario.NOT_DEMO}
    return templates.TemplateResponse(request, "screen/tour.html", {"config": config, "steps": payload["steps"],
                                                                    "start": config["start"]})


@router.post("/screen/tour/scenarios")
def tour_start(body: ScenarioIn, request: Request, user: Presenter,
               x_csrf_token: Annotated[str | None, Header()] = None) -> JSONResponse:
    check_csrf(x_csrf_token, user)
    eng = scenario.engine_of(request.app)
    run = eng.start(body.name, started_by=user.username)
    return JSONResponse(eng.snapshot(run.id), status_code=202)


@router.get("/screen/tour/scenarios/{run_id}")
def tour_run(run_id: str, request: Request, _: Presenter) -> dict:
    return scenario.engine_of(request.app).snapshot(run_id)
