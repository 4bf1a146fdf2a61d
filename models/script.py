"""The simulation script: scripted actions for replaying a plan day by day."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.planfile import PlanDate

ScriptAction = Literal[
    "start",
    "submit",
    "confirm",
    "return",
    "block",
    "unblock",
    "pause",
    "resume",
    "cancel",
    "extend",
]


class ScriptStep(BaseModel):
    """ "On day X, Y does Z": one action the simulation applies before that day's sweep."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    day: PlanDate
    action: ScriptAction
    assignment: Annotated[str, Field(min_length=1, max_length=200)]
    by: Annotated[str, Field(min_length=1, max_length=200)] = "mô phỏng"
    note: str | None = None
    reason: str | None = None
    to: PlanDate | None = None  # the new due date, for extend


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[ScriptStep] = []
