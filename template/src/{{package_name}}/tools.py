"""Your tools, resources and prompts. This file is yours: `copier update` leaves it alone.

The examples show one of each MCP capability around a small unit converter, and a long tool
that reports progress. Replace them with your own and list each one in `register()` at the bottom.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS
from pydantic import BaseModel, Field

# Each unit as a factor of its dimension's base unit (metre, kilogram, second, kelvin).
UNITS: dict[str, dict[str, float]] = {
    "length": {
        "mm": 0.001,
        "cm": 0.01,
        "m": 1.0,
        "km": 1000.0,
        "in": 0.0254,
        "ft": 0.3048,
        "yd": 0.9144,
        "mi": 1609.344,
    },
    "mass": {"g": 0.001, "kg": 1.0, "t": 1000.0, "oz": 0.028349523125, "lb": 0.45359237},
    "time": {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0},
    "temperature": {"C": 1.0, "F": 5 / 9, "K": 1.0},
}
# Scales whose zero is not absolute zero: added before the factor applies, e.g. 0 C = 273.15 K.
OFFSETS = {"C": 273.15, "F": 459.67}
# A long tool stops this long before Lambda would kill the function, to answer in time.
DEADLINE_MARGIN_SECONDS = 3.0
UNIT_CHOICES = " ".join(unit for units in UNITS.values() for unit in units)


class Conversion(BaseModel):
    """The result of `convert_units`, returned as structured content."""

    value: float = Field(description="The value that was converted")
    from_unit: str
    to_unit: str
    dimension: str = Field(description="length, mass, time or temperature")
    result: float = Field(description="The value expressed in to_unit")


def convert_units(
    value: float,
    # Field descriptions land in the tool's input schema, where the model reads them.
    from_unit: Annotated[str, Field(description=f"Unit of value, one of: {UNIT_CHOICES}")],
    to_unit: Annotated[str, Field(description=f"Unit to convert to, one of: {UNIT_CHOICES}")],
) -> Conversion:
    """Convert a value between units of length, mass, time or temperature."""
    from_dimension = _dimension_of("from_unit", from_unit)
    to_dimension = _dimension_of("to_unit", to_unit)
    if from_dimension != to_dimension:
        raise ToolError(
            f"cannot convert {from_unit} ({from_dimension}) to {to_unit} ({to_dimension}): "
            "both units must measure the same dimension"
        )
    units = UNITS[from_dimension]
    in_base_unit = (value + OFFSETS.get(from_unit, 0)) * units[from_unit]
    result = in_base_unit / units[to_unit] - OFFSETS.get(to_unit, 0)
    return Conversion(
        value=value,
        from_unit=from_unit,
        to_unit=to_unit,
        dimension=from_dimension,
        result=round(result, 10),
    )


def list_units(dimension: str) -> str:
    """The units of one dimension, as JSON, for clients to offer as choices."""
    if dimension not in UNITS:
        raise ResourceNotFoundError(
            f"units://{dimension} does not exist: dimension must be one of {', '.join(UNITS)}"
        )
    return json.dumps({"dimension": dimension, "units": list(UNITS[dimension])})


def explain_conversion(value: str, from_unit: str, to_unit: str) -> str:
    """Ask the model to explain a conversion step by step, with the right answer given."""
    # Prompt arguments arrive as strings; MCPError reaches the client with its message.
    try:
        number = float(value)
    except ValueError:
        message = f"value {value!r} is not a number: use digits such as 12.5"
        raise MCPError(INVALID_PARAMS, message) from None
    try:
        conversion = convert_units(number, from_unit, to_unit)
    except ToolError as error:
        raise MCPError(INVALID_PARAMS, str(error)) from None
    return (
        f"Explain, step by step, how to convert {number:g} {from_unit} to {to_unit}. "
        f"The correct result is {conversion.result:g} {to_unit}. "
        "Show the factor or formula used and one everyday example of the quantity."
    )


async def count_slowly(
    seconds: Annotated[int, Field(ge=1, le=900, description="How many seconds to count")],
    ctx: Context,
) -> str:
    """Count up to `seconds`, one a second, reporting progress: a model for long tools."""
    deadline = _deadline(ctx)
    for done in range(seconds):
        if time.time() + 1 + DEADLINE_MARGIN_SECONDS > deadline:
            raise ToolError(
                f"stopped after {done} of {seconds} seconds, before the function's deadline: "
                "ask for fewer seconds, or raise [lambda] timeout_seconds in deploy.toml"
            )
        await ctx.report_progress(done, seconds, f"{done} of {seconds} seconds")
        # A cancelled call (the client closed its stream) raises here: let it propagate.
        await anyio.sleep(1)
    return f"counted {seconds} seconds"


def register(server: MCPServer) -> None:
    """Expose the tools, resources and prompts of this module on `server`."""
    server.tool()(convert_units)
    server.tool()(count_slowly)
    server.resource("units://{dimension}", mime_type="application/json")(list_units)
    server.prompt()(explain_conversion)


def _dimension_of(field: str, unit: str) -> str:
    for dimension, units in UNITS.items():
        if unit in units:
            return dimension
    raise ToolError(f"{field} {unit!r} is not a known unit: use one of {UNIT_CHOICES}")


def _deadline(ctx: Context) -> float:
    """When Lambda stops this call, in epoch seconds: the Lambda Web Adapter passes the
    invocation's context as JSON in a header, its `deadline` in epoch milliseconds. Locally: never."""
    lambda_context = (ctx.headers or {}).get("x-amzn-lambda-context")
    return json.loads(lambda_context)["deadline"] / 1000 if lambda_context else float("inf")
