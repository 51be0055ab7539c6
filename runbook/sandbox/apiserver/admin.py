"""The sandbox's admin API (``/sandbox/v1/…``): status, advance, settle, reset, faults, requests."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from runbook.sandbox.apiserver.faults import Fault, FaultTable, RequestLog, number_in_range
from runbook.sandbox.registry import status
from runbook.sandbox.registry.cluster import Registry
from runbook.sandbox.registry.status import ApiError

if TYPE_CHECKING:
    from runbook.sandbox.sandbox import Sandbox
from runbook.sandbox.apiserver.exchange import (
    Obj,
    Users,
    decode_json_body,
    int_param,
    json_response,
    read_body,
)

#: longest single ``advance`` (a year): timers fire one by one on the way
MAX_ADVANCE_SECONDS = 366 * 86400.0


#: longest ``settle`` wait: the request is held that long
MAX_SETTLE_SECONDS = 300.0


#: the clock stays well inside what datetime can show (year 9000), whatever is advanced
_LAST_TIME = datetime(9000, 1, 1, tzinfo=UTC).timestamp()


def _admin_fields(body: Obj, known: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise status.bad_request(f"unknown field(s) {', '.join(unknown)[:200]}; "
                                 f"known: {', '.join(known) or 'none'}")


def _admin_number(body: Obj, name: str, default: float, high: float, *, low: float = 0.0
                  ) -> float:
    """The admin body's only field ``name``: a finite number in [low, high] (400 otherwise)."""
    _admin_fields(body, (name,))
    try:
        return number_in_range(name, body.get(name, default), low, high)
    except ValueError as exc:
        raise status.bad_request(str(exc)) from None


class AdminApi:
    """The ``/sandbox/v1`` handlers of :class:`~runbook.sandbox.apiserver.server.ApiServer`."""

    cluster: Registry
    users: Users
    requests: RequestLog
    faults: FaultTable
    sandbox: Sandbox | None

    async def _admin(self, request: web.Request, user: str, parts: list[str]) -> web.StreamResponse:
        if parts[:1] != ["v1"] or len(parts) < 2:
            raise status.resource_not_found()
        what, method = parts[1], request.method
        if method != "GET" and user in self.users.readonly:
            raise ApiError(403, "Forbidden", f'User "{user}" cannot use the sandbox admin API')
        sandbox = self.sandbox
        body: Obj = {}
        if method in ("POST", "PUT"):
            raw = await read_body(request)
            decoded = decode_json_body(raw, request) if raw.strip() else {}
            if not isinstance(decoded, dict):
                raise status.bad_request("the body must be a JSON object")
            body = decoded
        if what == "status" and method == "GET":
            return json_response(sandbox.status() if sandbox else {})
        if what == "requests":
            if method == "DELETE":
                self.requests.clear()
                return json_response({"cleared": True})
            records = self.requests.records()
            limit = int_param(request, "limit")
            if limit is not None and limit < 0:
                raise status.bad_request(f"limit must be 0 (all) or more, not {limit}")
            if limit:
                records = records[-limit:]
            return json_response({"items": [asdict(r) for r in records]})
        if what == "faults":
            if method == "GET":
                return json_response({"items": [f.to_dict() for f in self.faults]})
            if method == "POST":
                try:
                    fault = Fault.from_dict(body)
                except (TypeError, ValueError) as exc:
                    raise status.bad_request(f"invalid fault: {exc}") from None
                return json_response(self.faults.add(fault).to_dict(), code=201)
            if method == "DELETE":
                if len(parts) == 3:
                    if not parts[2].isdigit() or not self.faults.remove(int(parts[2])):
                        raise ApiError(404, "NotFound", f'fault "{parts[2]}" not found')
                else:
                    self.faults.clear()
                return json_response({"cleared": True})
        if sandbox is not None and method == "POST":
            # advance/settle/reset run timers and controller work, which may call this server:
            # they run in a worker thread so that the event loop stays free to answer
            loop = asyncio.get_running_loop()
            if what == "advance":
                seconds = _admin_number(body, "seconds", 0, MAX_ADVANCE_SECONDS)
                if self.cluster.clock.time() + seconds > _LAST_TIME:
                    raise status.bad_request("advancing that far would take the clock past the "
                                             "year 9000; reset the sandbox to start over")
                await loop.run_in_executor(None, sandbox.advance, seconds)
                return json_response({"time": self.cluster.clock.timestamp()})
            if what == "settle":
                timeout = _admin_number(body, "timeout", 5.0, MAX_SETTLE_SECONDS, low=0.0)
                try:
                    await loop.run_in_executor(None, sandbox.settle, timeout)
                except TimeoutError as exc:
                    raise ApiError(504, "Timeout", str(exc)) from None
                return json_response({"settled": True})
            if what == "reset":
                _admin_fields(body, ())
                await loop.run_in_executor(None, sandbox.reset)
                return json_response({"reset": True, "scenario": sandbox.scenario})
        raise status.method_not_supported(None, method)
