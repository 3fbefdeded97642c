"""GET /docs: a self-contained HTML page listing the endpoints from /openapi.json.

No JavaScript and nothing fetched from a CDN, so it works offline and
behind strict proxies; tools that want more read /openapi.json.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response

METHODS = ("get", "post", "put", "patch", "delete")


def render(spec: dict[str, Any]) -> str:
    info = spec.get("info", {})
    rows = []
    for path, item in sorted(spec.get("paths", {}).items()):
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            codes = ", ".join(sorted(c for c in op.get("responses", {}) if c != "default"))
            summary = op.get("summary") or ""
            detail = op.get("description") or ""
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}"
                f"</code></td><td>{html.escape(summary)}"
                + (f"<br><small>{html.escape(detail)}</small>" if detail else "")
                + f"</td><td>{html.escape(codes)}</td></tr>")
    title = html.escape(f"{info.get('title', 'occo')} {info.get('version', '')}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "td{padding:.3em .8em;vertical-align:top;border-bottom:1px solid #ddd}</style>"
        f"</head><body><h1>{title}</h1>"
        "<p>Machine-readable: <a href='openapi.json'>openapi.json</a> (OpenAPI 3). "
        "Errors are JSON <code>{\"error\": kind, \"message\": text}</code>. "
        "When the service has tokens, send <code>Authorization: Bearer &lt;token&gt;</code>."
        "</p><table><tr><th>Method</th><th>Path</th><th>What</th><th>Answers</th></tr>"
        + "".join(rows) + "</table></body></html>")


def make_blueprint(spec: Callable[[], dict[str, Any]]) -> Blueprint:
    """The /docs page, rendered from ``spec()`` once, on first request."""
    blp = Blueprint("docs", __name__)
    page: list[str] = []

    @blp.route("/docs")
    def docs_page() -> Response:
        if not page:
            page.append(render(spec()))
        return Response(page[0], mimetype="text/html")

    return blp
