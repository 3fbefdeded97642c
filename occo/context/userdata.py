"""Turn a node's contextualisation section into the user data a cloud gets.

``cloudinit``: the ``context_template`` rendered (a mapping from
``!yaml_import`` is dumped as ``#cloud-config`` YAML first); ``basic`` and
``docker`` carry no user data of their own.
"""

from __future__ import annotations

import io
from typing import Any

from occo.context.templating import TemplateContext, TemplateRenderer


def template_text(template: Any) -> str:
    """The context template as text (YAML documents are dumped as cloud-config)."""
    if isinstance(template, str):
        return template
    from ruamel.yaml import YAML

    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(template, out)
    return "#cloud-config\n" + out.getvalue()


def render_user_data(renderer: TemplateRenderer, section: dict[str, Any] | None,
                     ctx: TemplateContext) -> str | None:
    if not section or section.get("type") != "cloudinit":
        return None
    template = section.get("context_template")
    if template is None:
        return None
    return renderer.render(template_text(template), ctx, what="context_template")
