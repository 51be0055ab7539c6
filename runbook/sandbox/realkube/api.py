"""A small asynchronous client of the real kube-apiserver, for the engine's own agents.

The sandbox may not import ``runbook.kube`` (its layer is above), and the agents need little:
get, list, watch, create, patch, delete with a bearer token over verified TLS. aiohttp, which
the emulated engine already serves with, does the HTTP.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from runbook.kinds import ResourceKind

Obj = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


class KubeApiError(Exception):
    """The apiserver answered with an error Status."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status, self.reason, self.message = status, reason, message
        super().__init__(f"{status} {reason}: {message}")


class ApiClient:
    """Requests to one apiserver as one user (``async with ApiClient(...) as api``)."""

    def __init__(self, url: str, token: str, ca_path: Path) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._ssl = ssl.create_default_context(cafile=str(ca_path))
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        self._session = aiohttp.ClientSession(
            headers=self._headers, connector=aiohttp.TCPConnector(ssl=self._ssl, limit=20))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use the client inside `async with`"
        return self._session

    async def request(self, method: str, path: str, body: Any = None, *,
                      content_type: str = "application/json",
                      params: dict[str, str] | None = None, timeout: float = 30.0) -> Obj:
        """One request; the decoded answer.

        Raises:
            KubeApiError: an error status.
        """
        data = json.dumps(body).encode() if body is not None else None
        async with self.session.request(
                method, self.url + path, data=data, params=params,
                headers={"Content-Type": content_type},
                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            raw = await resp.read()
            try:
                answer: Obj = json.loads(raw) if raw else {}
            except ValueError:  # e.g. "404 page not found" for a kind not served yet
                answer = {}
            if resp.status >= 400:
                raise KubeApiError(resp.status, str(answer.get("reason") or resp.reason),
                                   str(answer.get("message") or raw[:200].decode(errors="replace")))
            return answer

    async def get(self, kind: ResourceKind, namespace: str | None, name: str) -> Obj | None:
        """The object, or None when it does not exist."""
        try:
            return await self.request("GET", kind.path(namespace, name))
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(self, kind: ResourceKind, namespace: str | None = None,
                   params: dict[str, str] | None = None) -> Obj:
        return await self.request("GET", kind.path(namespace), params=params)

    async def create(self, kind: ResourceKind, namespace: str | None, obj: Obj) -> Obj:
        return await self.request("POST", kind.path(namespace), obj)

    async def patch(self, kind: ResourceKind, namespace: str | None, name: str, patch: Obj, *,
                    subresource: str | None = None, content_type: str = MERGE_PATCH) -> Obj:
        return await self.request("PATCH", kind.path(namespace, name, subresource=subresource),
                                  patch, content_type=content_type)

    async def delete(self, kind: ResourceKind, namespace: str | None, name: str,
                     options: Obj | None = None) -> Obj | None:
        """Delete; None when it was already gone."""
        try:
            return await self.request("DELETE", kind.path(namespace, name), options)
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def watch(self, kind: ResourceKind, namespace: str | None = None,
                    params: dict[str, str] | None = None) -> AsyncIterator[tuple[str, Obj]]:
        """List, then watch from the list's resourceVersion: ``("ADDED", obj)`` for what the
        list holds, then every event. Ends when the server ends the watch (the caller re-lists).
        """
        listed = await self.list(kind, namespace, params)
        for item in listed.get("items") or ():
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
            yield "ADDED", item
        query = dict(params or {}, watch="true",
                     resourceVersion=str(listed["metadata"].get("resourceVersion", "")),
                     allowWatchBookmarks="false")
        async with self.session.get(self.url + kind.path(namespace), params=query,
                                    timeout=aiohttp.ClientTimeout(total=None,
                                                                  sock_read=None)) as resp:
            if resp.status >= 400:
                raise KubeApiError(resp.status, resp.reason or "", (await resp.text())[:200])
            # one JSON document per line; a CRD's line is far longer than aiohttp's line limit
            buffer = b""
            async for chunk in resp.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        return  # e.g. 410 Gone: the caller lists again
                    yield str(event["type"]), event["object"]


__all__ = ["MERGE_PATCH", "STRATEGIC_PATCH", "ApiClient", "KubeApiError"]
