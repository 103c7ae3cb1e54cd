"""Downloading a venue's public endpoints, for `tables import --fetch`.

The mapping says where (its base_url, https only), which endpoints need no
signature (`public`) and which query parameters each takes (`params`: the
required ones, their accepted values and defaults). Requests are built from
those declarations only, sent with the standard library over https (a
redirect to anything else is refused), with a timeout and a size limit; the
answer is read like a saved payload, so a venue error is reported as one.
`open_url` is the only function that touches the network."""

from __future__ import annotations

import datetime as dt
import itertools
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..errors import PayloadError, UsageError
from ..version import __version__
from .mapping import Mapping
from .payloads import MAX_PAYLOAD_BYTES

TIMEOUT = 20.0  # seconds, per request
MAX_REQUESTS = 50  # per command: a parameter given several times makes one request per value


@dataclass(frozen=True)
class Request:
    """One request to a public endpoint: its address and every parameter the mapping may read (sent or not)."""

    endpoint: str
    url: str
    params: dict[str, str]


@dataclass(frozen=True)
class Download:
    body: bytes
    status: int
    at: dt.datetime


class _HttpsOnly(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to another https address."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if urllib.parse.urlsplit(newurl).scheme != "https":
            raise urllib.error.URLError(f"refused a redirect to {newurl} (https only)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def requests_for(mapping: Mapping, endpoints: list[str], given: list[tuple[str, str]]) -> list[Request]:
    """The requests for the named endpoints with the given (name, value) parameters: a parameter given several
    times makes one request per value (all combinations); one no endpoint declares, a value an endpoint does not
    accept, or a required one missing is a UsageError before anything is sent."""
    if not mapping.base_url:
        raise UsageError(f"{mapping.file} has no base_url: it does not say where the venue's endpoints are")
    for name in endpoints:
        if name not in mapping.endpoints:
            public = ", ".join(n for n, e in mapping.endpoints.items() if e.public) or "none"
            raise UsageError(f"--fetch {name}: {mapping.file} has no endpoint of that name (public endpoints: {public})")
        if not mapping.endpoints[name].public:
            raise UsageError(f"--fetch {name}: {mapping.endpoints[name].request} needs a signed request, which marginspec never makes; "
                             "save its response with your own client and import the file")
    values: dict[str, list[str]] = {}
    for name, value in given:
        values.setdefault(name, []).append(value)
    unknown = [n for n in values if not any(n in mapping.endpoints[e].params for e in endpoints)]
    if unknown:
        declared = sorted({p for e in endpoints for p in mapping.endpoints[e].params})
        raise UsageError(f"--param {unknown[0]}: not a parameter of {', '.join(mapping.endpoints[e].request for e in endpoints)} "
                         f"(parameters: {', '.join(declared) or 'none'})")
    out: list[Request] = []
    for name in endpoints:
        ep = mapping.endpoints[name]
        choices: list[list[tuple[str, str]]] = []
        for pname, param in ep.params.items():
            wanted = values.get(pname) or ([param.default] if param.default is not None else [])
            if not wanted and param.required:
                shown = f" (one of {', '.join(param.values)})" if param.values else ""
                raise UsageError(f"--fetch {name}: {ep.request} needs the parameter {pname}{shown}: {param.description}; give --param {pname}=VALUE")
            for v in wanted:
                if param.values and v not in param.values:
                    raise UsageError(f"--param {pname}={v}: {ep.request} takes one of {', '.join(param.values)}")
            if wanted:
                choices.append([(pname, v) for v in dict.fromkeys(wanted)])
        for combination in itertools.product(*choices):
            params = dict(combination)
            query = urllib.parse.urlencode([(k, v) for k, v in params.items() if ep.params[k].send])
            path = ep.request.split(" ", 1)[1]
            out.append(Request(name, f"{mapping.base_url}{path}" + (f"?{query}" if query else ""), params))
        if len(out) > MAX_REQUESTS:
            raise UsageError(f"the parameters given make more than {MAX_REQUESTS} requests; import in several commands")
    return out


def open_url(request: urllib.request.Request, timeout: float) -> Any:
    """Send one request (the only place that touches the network) and return the response object."""
    return urllib.request.build_opener(_HttpsOnly()).open(request, timeout=timeout)


def download(request: Request, timeout: float = TIMEOUT) -> Download:
    """The body of the answer to one request (an error status with a body is returned too: it is the venue's
    error message); PayloadError naming the address when nothing usable came back."""
    if urllib.parse.urlsplit(request.url).scheme != "https":
        raise UsageError(f"refused to fetch {request.url}: https only")
    req = urllib.request.Request(request.url, headers={"Accept": "application/json", "User-Agent": f"marginspec/{__version__}"})
    at = dt.datetime.now(dt.UTC)
    try:
        with open_url(req, timeout) as response:
            body = response.read(MAX_PAYLOAD_BYTES + 1)
            status = int(getattr(response, "status", 200))
    except urllib.error.HTTPError as exc:
        body = exc.read(MAX_PAYLOAD_BYTES + 1) if exc.fp is not None else b""
        if not body.strip():
            raise PayloadError([(request.url, "", f"the venue answered HTTP {exc.code} {exc.reason} with no body")]) from None
        return Download(body, exc.code, at)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PayloadError([(request.url, "", f"cannot download: {reason}")]) from None
    return Download(body, status, at)
