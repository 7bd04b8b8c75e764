"""The guided demonstration's API (VISIT-2): the tour's steps and the simulated scenarios.

A scenario is refused (409) on every instance whose `demo_mode` is off — only `cityops demo`
turns it on — so the tour can never write into production data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cityops.auth.deps import Principal, require
from cityops.screen import scenario, tour

router = APIRouter(prefix="/api/v1/screen/tour", tags=["screen"])
Presenter = Annotated[Principal, Depends(require("admin", "manager", "duty"))]


class ScenarioIn(BaseModel):
    name: str = Field(min_length=1, max_length=32, examples=["waterlogging"])


def steps_payload(request: Request) -> dict[str, Any]:
    """What the presenter page and the API show: the steps, the scenarios, whether they may run."""
    eng = scenario.engine_of(request.app)
    return {"demo_mode": eng.enabled, "demo_url": "" if eng.enabled else eng.ctx.settings.tour_demo_url,
            "steps": [s.as_dict() for s in tour.steps()],
            "scenarios": [s.as_dict() for s in scenario.SCENARIOS.values()],
            "current": eng.current.id if eng.current is not None and eng.current.state == "running" else None}


@router.get("/steps")
def tour_steps(request: Request, _: Presenter) -> dict[str, Any]:
    """The tour's steps (title, caption, url, scenario, notes) and the available scenarios."""
    return steps_payload(request)


@router.post("/scenarios", status_code=202)
def start_scenario(body: ScenarioIn, request: Request, p: Presenter) -> JSONResponse:
    """Start a scenario in the demo district (202 with the run; 409 outside the demo or while
    one runs). Follow it with GET …/scenarios/{id}."""
    run = scenario.engine_of(request.app).start(body.name, started_by=p.username)
    return JSONResponse(scenario.engine_of(request.app).snapshot(run.id), status_code=202,
                        headers={"Location": f"/api/v1/screen/tour/scenarios/{run.id}"})


@router.get("/scenarios")
def recent_scenarios(request: Request, _: Presenter) -> dict[str, Any]:
    """The runs since this process started (kept in memory: a restart forgets them)."""
    return {"runs": scenario.engine_of(request.app).recent()}


@router.get("/scenarios/{run_id}")
def scenario_run(run_id: str, request: Request, _: Presenter) -> dict[str, Any]:
    """One run: its state and every step with its time and reference."""
    return scenario.engine_of(request.app).snapshot(run_id)
