"""Emulated workloads: what a pod answers when the sandbox's ingress gateway routes a request to it.

**Which app a pod runs** is read from its containers' images (``istio-proxy``/``istio-init`` left
out), then from its ``app`` label — never from its name:

=====================================================  ==========================================
image (last path segment) or ``app`` label             emulated app
=====================================================  ==========================================
``examples-bookinfo-productpage-v1``, app productpage  bookinfo productpage: an HTML page of ~5 KB
                                                       at ``/productpage``, ``/``, ``/static/…``,
                                                       ``/login`` (POST), ``/logout``,
                                                       ``/api/v1/products[/<id>[/reviews|/ratings]]``,
                                                       ``/health``; it calls ``details`` and
                                                       ``reviews`` in its namespace, one after the
                                                       other, like the real app
``examples-bookinfo-details-v1``, app details          ``/details/<id>`` JSON
``examples-bookinfo-ratings-v1``, app ratings          ``/ratings/<id>`` JSON
``examples-bookinfo-reviews-v1|v2|v3``, app reviews    ``/reviews/<id>`` JSON; v2 (black stars) and
                                                       v3 (red stars) call ``ratings``
``nginx*``, app nginx*                                 a 615-byte welcome page at ``/`` and
                                                       ``/index.html`` with ``etag``,
                                                       ``last-modified``, ``accept-ranges``, 304 on
                                                       ``If-None-Match``; nginx's 404/405 pages
``*echo*`` (``registry.k8s.io/echoserver``)            the request as received (echoserver 1.10's
                                                       text layout): path, query, every header the
                                                       gateway forwarded
anything else                                          ``200 text/plain`` naming the pod
=====================================================  ==========================================

Every page and JSON document here was written by this project; the shapes follow the real apps
(bookinfo's productpage/details/reviews/ratings, nginx's default page size, echoserver's layout).

**Service times** are drawn per request from a log-normal distribution given by its median and
p99 (``sigma = ln(p99/median) / 2.326``), per app (:data:`DEFAULT_LATENCY`: productpage slower,
details fast, nginx fastest), and the data plane really waits that long (``asyncio.sleep``), so a
probe measures real time. A pod's first request also pays a cold start (productpage ~0.9 s,
reviews ~0.25 s: the report's first ``curl`` saw ``x-envoy-upstream-service-time: 1172``).
The knob is the pod annotation ``sandbox.mesh-runbook.io/latency`` (set it in the Deployment's pod
template to keep it across restarts): ``slow`` (×5), ``x3`` (×3), or any of
``median=20ms,p99=200ms,cold=0s`` — e.g.
``kubectl -n l7-traffic-alpha patch deploy productpage-v1 -p '{"spec":{"template":{"metadata":
{"annotations":{"sandbox.mesh-runbook.io/latency":"slow"}}}}}'``.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from runbook.routing import PROXY_CONTAINER

#: the pod annotation that changes an app's service time (see the module docstring)
LATENCY_ANNOTATION = "sandbox.mesh-runbook.io/latency"
#: the z-score of the 99th percentile of a normal distribution
_Z99 = 2.3263478740408408
_SIDECARS = frozenset({PROXY_CONTAINER, "istio-init", "istio-validation"})


# ------------------------------------------------------------------------------------ latency


@dataclass(frozen=True)
class LatencyModel:
    """A log-normal service time given by its median and 99th percentile (ms), plus a cold start.

    Attributes:
        median_ms: median service time.
        p99_ms: 99th percentile (>= median).
        cold_ms: extra time of a pod's first request (interpreter/JVM warm-up).
    """

    median_ms: float
    p99_ms: float
    cold_ms: float = 0.0

    @property
    def sigma(self) -> float:
        if self.median_ms <= 0 or self.p99_ms <= self.median_ms:
            return 0.0
        return math.log(self.p99_ms / self.median_ms) / _Z99

    def sample_s(self, rng: random.Random) -> float:
        """One service time in seconds (capped at 10×p99: a tail, not a hang)."""
        if self.median_ms <= 0:
            return 0.0
        value = rng.lognormvariate(math.log(self.median_ms), self.sigma) if self.sigma else self.median_ms
        return min(value, 10 * max(self.p99_ms, self.median_ms)) / 1000.0

    def scaled(self, factor: float) -> LatencyModel:
        return replace(self, median_ms=self.median_ms * factor, p99_ms=self.p99_ms * factor)


#: service times per app: bookinfo's Python productpage is the slow one, nginx the fast one
DEFAULT_LATENCY: dict[str, LatencyModel] = {
    "productpage": LatencyModel(6.0, 35.0, cold_ms=900.0),
    "details": LatencyModel(1.5, 6.0),
    "ratings": LatencyModel(1.2, 5.0),
    "reviews": LatencyModel(4.0, 25.0, cold_ms=250.0),
    "nginx": LatencyModel(0.4, 2.5),
    "echo": LatencyModel(0.6, 3.0),
    "generic": LatencyModel(1.0, 5.0),
}
#: what ``slow`` multiplies service times by
SLOW_FACTOR = 5.0
_MS = re.compile(r"^(\d+(?:\.\d*)?)(us|µs|ms|s)?$")


def _ms(text: str) -> float:
    m = _MS.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration (e.g. 20ms, 1.5s)")
    unit = m.group(2) or "ms"
    return float(m.group(1)) * {"us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0}[unit]


def parse_latency(text: str, base: LatencyModel) -> LatencyModel:
    """Apply a ``sandbox.mesh-runbook.io/latency`` annotation to an app's default.

    Raises:
        ValueError: a token that is none of ``slow``, ``xN``, ``median=…``, ``p99=…``, ``cold=…``.
    """
    model = base
    for token in re.split(r"[,\s]+", text.strip()):
        if not token:
            continue
        key, eq, value = token.partition("=")
        key = key.lower()
        if not eq:
            if key == "slow":
                model = model.scaled(SLOW_FACTOR)
            elif key.startswith("x") and _is_number(key[1:]):
                model = model.scaled(float(key[1:]))
            else:
                raise ValueError(f"unknown latency token {token!r}")
        elif key == "median":
            model = replace(model, median_ms=_ms(value))
        elif key == "p99":
            model = replace(model, p99_ms=_ms(value))
        elif key == "cold":
            model = replace(model, cold_ms=_ms(value))
        else:
            raise ValueError(f"unknown latency key {key!r} (median, p99, cold)")
    if model.p99_ms < model.median_ms:
        model = replace(model, p99_ms=model.median_ms)
    return model


def _is_number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


# ------------------------------------------------------------------------------------ which app


@dataclass(frozen=True)
class PodApp:
    """A ready pod as the data plane calls it."""

    namespace: str
    name: str
    uid: str
    ip: str
    labels: Mapping[str, str]
    app: str
    version: str | None
    latency: LatencyModel
    latency_error: str = ""


_BOOKINFO_IMAGE = re.compile(r"examples-bookinfo-(productpage|details|ratings|reviews)(?:-(v\d+))?")


def app_of(pod: Mapping[str, Any]) -> tuple[str, str | None]:
    """``(app, version)`` a pod runs (see the module docstring)."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    for c in (pod.get("spec") or {}).get("containers") or ():
        if c.get("name") in _SIDECARS:
            continue
        image = str(c.get("image") or "").lower().split("@", 1)[0]
        name = image.rsplit("/", 1)[-1].split(":", 1)[0]
        m = _BOOKINFO_IMAGE.search(name)
        if m:
            return m.group(1), m.group(2) or labels.get("version")
        if name.startswith("nginx"):
            return "nginx", labels.get("version")
        if "echo" in name:
            return "echo", labels.get("version")
    app = str(labels.get("app") or "")
    if app in ("productpage", "details", "ratings", "reviews"):
        return app, labels.get("version")
    if app.startswith("nginx"):
        return "nginx", labels.get("version")
    if "echo" in app:
        return "echo", labels.get("version")
    return "generic", labels.get("version")


def pod_app(pod: Mapping[str, Any]) -> PodApp:
    """The emulated app of a pod, with its service-time model (annotation applied)."""
    meta = pod.get("metadata") or {}
    app, version = app_of(pod)
    latency = DEFAULT_LATENCY[app]
    error = ""
    text = (meta.get("annotations") or {}).get(LATENCY_ANNOTATION)
    if text:
        try:
            latency = parse_latency(str(text), latency)
        except ValueError as exc:
            error = f"{LATENCY_ANNOTATION}: {exc} (default kept)"
    return PodApp(meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", ""),
                  str((pod.get("status") or {}).get("podIP") or ""), dict(meta.get("labels") or {}),
                  app, version, latency, error)


# ------------------------------------------------------------------------------------ requests


@dataclass(frozen=True)
class BackendRequest:
    """A request as the upstream pod receives it (after the gateway's rewrites).

    Attributes:
        method: HTTP method.
        path: the path (rewritten when the route says so).
        query: the raw query string, without ``?``.
        headers: headers in order, lower-case names, as forwarded by the gateway.
        body: the request body.
        client_ip: the peer address the app sees (the gateway pod's IP).
    """

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    client_ip: str = ""

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)


@dataclass
class BackendResponse:
    """What an app answers: status, headers in the app's order (lower-case names), body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class Upstream(Protocol):
    """How an app calls another Service of its namespace (productpage → details, reviews)."""

    def call(self, caller: PodApp, service: str, port: int, path: str) -> Awaitable[BackendResponse]:
        """Call ``http://<service>:<port><path>`` from ``caller``; an unreachable Service answers
        ``503`` (what the caller's sidecar would)."""
        ...


Handler = Callable[[PodApp, BackendRequest, Upstream], Awaitable[BackendResponse]]

PRODUCT_ID = 0
_BOOK = {"id": PRODUCT_ID, "title": "The Comedy of Errors", "author": "William Shakespeare",
         "year": 1595}
_DETAILS = {"id": PRODUCT_ID, "author": "William Shakespeare", "year": 1595, "type": "paperback",
            "pages": 200, "publisher": "PublisherA", "language": "English", "ISBN-10": "1234567890",
            "ISBN-13": "123-1234567890"}
_REVIEWS = (("Reviewer1", "Two pairs of twins, one town, one very long day: the mix-ups keep coming "
                          "and the pace never drops.", 5),
            ("Reviewer2", "Great fun to read aloud; the confusion is funnier on the page than I "
                          "expected from a play this old.", 4))
_RATINGS = {"Reviewer1": 5, "Reviewer2": 4}


def _json(status: int, payload: Any, server_headers: list[tuple[str, str]] | None = None) -> BackendResponse:
    body = json.dumps(payload).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    return BackendResponse(status, headers + (server_headers or []), body)


def _html(status: int, body: bytes, extra: list[tuple[str, str]] | None = None) -> BackendResponse:
    return BackendResponse(status, [("content-type", "text/html; charset=utf-8"),
                                    ("content-length", str(len(body))), *(extra or [])], body)


# ------------------------------------------------------------------------------------ bookinfo


_FLASK_404 = (b'<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n'
              b'<p>The requested URL was not found on the server. If you entered the URL manually '
              b'please check your spelling and try again.</p>\n')
_FLASK_405 = (b'<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n'
              b'<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n')

_PAGE_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Simple Bookstore App</title>
<link rel="stylesheet" href="static/bootstrap/css/bootstrap.min.css">
<link rel="stylesheet" href="static/bootstrap/css/bootstrap-theme.min.css">
</head>
<body>
<nav class="navbar navbar-inverse navbar-static-top">
  <div class="container">
    <div class="navbar-header">
      <a class="navbar-brand" href="#">BookInfo Sample</a>
    </div>
    <button type="button" class="btn btn-default navbar-btn pull-right" data-toggle="modal"
            data-target="#login-modal">{user}</button>
  </div>
</nav>
<div class="modal fade" id="login-modal" tabindex="-1" role="dialog">
  <div class="modal-dialog" role="document">
    <div class="modal-content">
      <div class="modal-header">
        <button type="button" class="close" data-dismiss="modal">&times;</button>
        <h4 class="modal-title">Please sign in</h4>
      </div>
      <div class="modal-body">
        <form method="post" action="login" name="login_form">
          <p><input type="text" class="form-control" name="username" placeholder="User Name"></p>
          <p><input type="password" class="form-control" name="passwd" placeholder="Password"></p>
          <p><button type="submit" class="btn btn-primary">Sign in</button>
             <button type="button" class="btn btn-default" data-dismiss="modal">Cancel</button></p>
        </form>
      </div>
    </div>
  </div>
</div>
<div class="container-fluid">
  <div class="row">
    <div class="col-md-12">
      <h3 class="text-center text-primary">{title}</h3>
      <p>Summary: <a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">{title}</a> follows
      two sets of identical twins who were separated at birth and, years later, all turn up in the
      same city on the same day. Everybody mistakes everybody for somebody else: a farce about
      identity, money, marriage and a great deal of confusion, which ends in a reunion.</p>
    </div>
  </div>
  <div class="row">
    <div class="col-md-6">
      <h4 class="text-center text-primary">Book Details</h4>
{details}
    </div>
    <div class="col-md-6">
      <h4 class="text-center text-primary">Book Reviews</h4>
{reviews}
    </div>
  </div>
</div>
<script src="static/jquery.min.js"></script>
<script src="static/bootstrap/js/bootstrap.min.js"></script>
<script type="text/javascript">
$('#login-modal').on('shown.bs.modal', function () {{ $('input[name="username"]').focus(); }});
</script>
</body>
</html>
"""

_INDEX = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Simple Bookstore App</title>
<link rel="stylesheet" href="static/bootstrap/css/bootstrap.min.css">
</head>
<body>
<div class="container">
  <h3>Hello! This is a simple bookstore application consisting of three services as shown below</h3>
  <table class="table table-condensed table-bordered table-hover">
    <tr><th>name</th><td>http://details:9080</td></tr>
    <tr><th>endpoint</th><td>details</td></tr>
    <tr><th>children</th><td>details, reviews (reviews: ratings)</td></tr>
  </table>
  <p><h4>Click on one of the links below to auto generate a request to the backend as a real user
  or a tester</h4></p>
  <p><a href="/productpage?u=normal">Normal user</a></p>
  <p><a href="/productpage?u=test">Test user</a></p>
</div>
</body>
</html>
"""

_STATIC = {
    "/static/bootstrap/css/bootstrap.min.css": ("text/css; charset=utf-8",
        b"/* bootstrap-like stylesheet of the mesh-runbook sandbox */\n"
        b"body{font-family:Helvetica,Arial,sans-serif;font-size:14px;line-height:1.43;margin:0}\n"
        b".container,.container-fluid{padding:0 15px;margin:0 auto}.row{margin:0 -15px}\n"
        b".col-md-6{width:50%;float:left}.col-md-12{width:100%}.text-center{text-align:center}\n"
        b".text-primary{color:#337ab7}.navbar-inverse{background:#222;color:#9d9d9d}\n"),
    "/static/bootstrap/css/bootstrap-theme.min.css": ("text/css; charset=utf-8",
        b"/* theme */\n.btn-primary{background:#2e6da4;color:#fff}.btn-default{background:#fff}\n"),
    "/static/jquery.min.js": ("application/javascript; charset=utf-8",
        b"/* jquery-like stub of the mesh-runbook sandbox */\n"
        b"window.$=function(){return{on:function(){}}};\n"),
    "/static/bootstrap/js/bootstrap.min.js": ("application/javascript; charset=utf-8",
        b"/* bootstrap-like stub of the mesh-runbook sandbox */\n"),
}


def _details_html(details: Mapping[str, Any] | None) -> str:
    if details is None:
        return "      <h4 class=\"text-center text-danger\">Sorry, product details are currently " \
               "unavailable for this book.</h4>"
    rows = [("Type", details.get("type")), ("Pages", details.get("pages")),
            ("Publisher", details.get("publisher")), ("Language", details.get("language")),
            ("ISBN-10", details.get("ISBN-10")), ("ISBN-13", details.get("ISBN-13"))]
    inner = "\n".join(f"        <dt>{k}:</dt>{v}" for k, v in rows)
    return f"      <dl>\n{inner}\n      </dl>"


def _stars(rating: Mapping[str, Any]) -> str:
    if "error" in rating:
        return f'<p><i>{rating["error"]}</i></p>'
    color, stars = rating.get("color", "black"), int(rating.get("stars", 0))
    full = '<span class="glyphicon glyphicon-star"></span>' * stars
    empty = '<span class="glyphicon glyphicon-star-empty"></span>' * (5 - stars)
    return f'<font color="{color}">{full}{empty}</font>'


def _reviews_html(reviews: Mapping[str, Any] | None) -> str:
    if reviews is None:
        return "      <h4 class=\"text-center text-danger\">Sorry, product reviews are currently " \
               "unavailable for this book.</h4>"
    out = []
    for r in reviews.get("reviews") or ():
        rating = _stars(r["rating"]) if "rating" in r else ""
        out.append(f"      <blockquote>\n        <p>{r['text']}</p>\n        <small>{r['reviewer']}"
                   f"</small>\n        {rating}\n      </blockquote>")
    out.append(f"      <dl>\n        <dt>Reviews served by:</dt>\n        <u>{reviews.get('podname')}"
               "</u>\n      </dl>")
    return "\n".join(out)


async def _fetch_json(upstream: Upstream, caller: PodApp, service: str, path: str) -> Any | None:
    resp = await upstream.call(caller, service, 9080, path)
    if resp.status != 200:
        return None
    try:
        return json.loads(resp.body)
    except ValueError:
        return None


async def productpage(pod: PodApp, req: BackendRequest, upstream: Upstream) -> BackendResponse:
    """bookinfo's productpage (see the module docstring)."""
    path = req.path
    if path.startswith("/static/"):
        found = _STATIC.get(path)
        if found is None:
            return _html(404, _FLASK_404)
        ctype, body = found
        return BackendResponse(200, [("content-type", ctype), ("content-length", str(len(body)))], body)
    if path == "/login":
        if req.method != "POST":
            return _html(405, _FLASK_405, [("allow", "POST, OPTIONS")])
        form = re.search(r"(?:^|&)username=([^&]*)", req.body.decode(errors="replace"))
        name = (form.group(1) if form else "") or "guest"
        return _html(302, b"", [("location", "/productpage"), ("set-cookie", f"session={name}; Path=/")])
    if path == "/logout":
        return _html(302, b"", [("location", "/productpage"),
                                ("set-cookie", "session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/")])
    if req.method not in ("GET", "HEAD"):
        return _html(405, _FLASK_405, [("allow", "GET, HEAD, OPTIONS")])
    if path in ("/", "/index.html"):
        return _html(200, _INDEX)
    if path == "/health":
        return _json(200, {"status": "Product page is healthy"})
    if path == "/productpage":
        details = await _fetch_json(upstream, pod, "details", f"/details/{PRODUCT_ID}")
        reviews = await _fetch_json(upstream, pod, "reviews", f"/reviews/{PRODUCT_ID}")
        cookie = req.header("cookie") or ""
        signed_in = re.search(r"session=([^;]+)", cookie)
        user = f"{signed_in.group(1)} ( sign out )" if signed_in else "Sign in"
        page = _PAGE_HEAD.format(user=user, title=_BOOK["title"], details=_details_html(details),
                                 reviews=_reviews_html(reviews))
        return _html(200, page.encode())
    if path == "/api/v1/products":
        return _json(200, [{"id": PRODUCT_ID, "title": _BOOK["title"],
                            "descriptionHtml": "A play by William Shakespeare about two pairs of "
                                               "twins and one day of mistaken identities."}])
    m = re.fullmatch(r"/api/v1/products/(\d+)(/reviews|/ratings)?", path)
    if m:
        pid, sub = m.group(1), m.group(2)
        service = {"/reviews": "reviews", "/ratings": "ratings"}.get(sub or "", "details")
        got = await _fetch_json(upstream, pod, service, f"/{service}/{pid}")
        if got is None:
            return _json(503, {"error": f"Sorry, product {service} are currently unavailable for "
                                        "this book."})
        return _json(200, got)
    return _html(404, _FLASK_404)


async def details(pod: PodApp, req: BackendRequest, upstream: Upstream) -> BackendResponse:
    """bookinfo's details service: ``/details/<id>``."""
    if req.path == "/health":
        return _json(200, {"status": "Details is healthy"})
    m = re.fullmatch(r"/details/(\d+)", req.path)
    if not m:
        return _json(400, {"error": "Unsupported path"})
    return _json(200, dict(_DETAILS, id=int(m.group(1))))


async def ratings(pod: PodApp, req: BackendRequest, upstream: Upstream) -> BackendResponse:
    """bookinfo's ratings service: ``/ratings/<id>``."""
    if req.path == "/health":
        return _json(200, {"status": "Ratings is healthy"})
    m = re.fullmatch(r"/ratings/(\d+)", req.path)
    if not m:
        return _json(400, {"error": "unsupported path"})
    return _json(200, {"id": int(m.group(1)), "ratings": _RATINGS})


async def reviews(pod: PodApp, req: BackendRequest, upstream: Upstream) -> BackendResponse:
    """bookinfo's reviews service; v2 and v3 ask ratings for the stars (black / red)."""
    if req.path == "/health":
        return _json(200, {"status": "Reviews is healthy"})
    m = re.fullmatch(r"/reviews/(\d+)", req.path)
    if not m:
        return _json(404, {"error": "not found"})
    stars_color = {"v2": "black", "v3": "red"}.get(pod.version or "")
    ratings_doc = None
    if stars_color is not None:
        ratings_doc = await _fetch_json(upstream, pod, "ratings", f"/ratings/{m.group(1)}")
    out = []
    for reviewer, text, _ in _REVIEWS:
        item: dict[str, Any] = {"reviewer": reviewer, "text": text}
        if stars_color is not None:
            if ratings_doc is None:
                item["rating"] = {"error": "Ratings service is currently unavailable"}
            else:
                item["rating"] = {"stars": ratings_doc["ratings"].get(reviewer, 0), "color": stars_color}
        out.append(item)
    return _json(200, {"id": m.group(1), "podname": pod.name, "clustername": "null", "reviews": out})


# ------------------------------------------------------------------------------------ nginx, echo


#: nginx's welcome page is 615 bytes; this one, written by the project, is too (tests check it)
NGINX_PAGE = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>This page is served by the mesh-runbook sandbox, where it stands in for the
default page of an nginx server that has just been installed.</p>

<p>The real server's documentation lives at
<a href="http://nginx.org/">nginx.org</a>; this page only
answers GET and HEAD requests for / and /index.html.</p>

<p><em>Thank you for using the sandbox.</em></p>
</body>
</html>
"""
#: the report's ``last-modified: Tue, 24 Oct 2023 13:46:47 GMT`` (``etag: "6537cac7-267"``)
NGINX_MTIME = 0x6537CAC7
NGINX_VERSION = "1.25.3"


def _nginx_error(status: int, reason: str) -> BackendResponse:
    body = (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>"
            f"{status} {reason}</h1></center>\r\n<hr><center>nginx/{NGINX_VERSION}</center>\r\n"
            "</body>\r\n</html>\r\n").encode()
    return BackendResponse(status, [("content-type", "text/html"), ("content-length", str(len(body)))], body)


async def nginx(pod: PodApp, req: BackendRequest, upstream: Upstream) -> BackendResponse:
    """nginx serving its welcome page (``etag`` is ``"<mtime hex>-<size hex>"`` like nginx's)."""
    if req.path not in ("/", "/index.html"):
        return _nginx_error(404, "Not Found")
    if req.method not in ("GET", "HEAD"):
        return _nginx_error(405, "Not Allowed")
    etag = f'"{NGINX_MTIME:x}-{len(NGINX_PAGE):x}"'
    modified = email.utils.formatdate(NGINX_MTIME, usegmt=True)
    meta = [("last-modified", modified), ("etag", etag)]
    if req.header("if-none-match") == etag or req.header("if-modified-since") == modified:
        return BackendResponse(304, meta, b"")
    return BackendResponse(200, [("content-type", "text/html"), ("content-length", str(len(NGINX_PAGE))),
                                 *meta, ("accept-ranges", "bytes")], NGINX_PAGE)


async def echo(pod: PodApp, req: BackendRequest, upstream: Upstream) -> BackendResponse:
    """Kubernetes' echoserver: the request as it arrived (layout of echoserver 1.10)."""
    host = req.header("host") or ""
    uri = req.path + (f"?{req.query}" if req.query else "")
    headers = "\n".join(f"\t{k}={v}" for k, v in sorted(req.headers))
    body = (f"\n\nHostname: {pod.name}\n\nPod Information:\n\t-no pod information available-\n\n"
            f"Server values:\n\tserver_version=nginx: 1.13.3 - lua: 10008\n\n"
            f"Request Information:\n\tclient_address={req.client_ip}\n\tmethod={req.method}\n"
            f"\treal path={req.path}\n\tquery={req.query}\n\trequest_version=1.1\n"
            f"\trequest_scheme=http\n\trequest_uri=http://{host}:8080{uri}\n\n"
            f"Request Headers:\n{headers}\n\nRequest Body:\n"
            + (f"{req.body.decode(errors='replace')}\n" if req.body else "\t-no body in request-\n")
            + "\n").encode()
    return BackendResponse(200, [("content-type", "text/plain"), ("content-length", str(len(body)))], body)


async def generic(pod: PodApp, req: BackendRequest, upstream: Upstream) -> BackendResponse:
    """Any other app: 200 naming the pod that answered."""
    body = f"{pod.namespace}/{pod.name} ({pod.app}) answered {req.method} {req.path}\n".encode()
    return BackendResponse(200, [("content-type", "text/plain; charset=utf-8"),
                                 ("content-length", str(len(body)))], body)


HANDLERS: dict[str, Handler] = {
    "productpage": productpage, "details": details, "ratings": ratings, "reviews": reviews,
    "nginx": nginx, "echo": echo, "generic": generic,
}


__all__ = ["DEFAULT_LATENCY", "HANDLERS", "LATENCY_ANNOTATION", "NGINX_PAGE", "BackendRequest",
           "BackendResponse", "LatencyModel", "PodApp", "Upstream", "app_of", "parse_latency", "pod_app"]
