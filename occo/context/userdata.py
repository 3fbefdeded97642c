"""Turn a node's contextualisation (and config management) into the user data a cloud gets.

* ``cloudinit``: the ``context_template`` rendered (in a mapping from
  ``!yaml_import``, each string is rendered, then the mapping is written out
  as a ``#cloud-config`` document). Its
  ``attributes`` are rendered too and reachable in the template as
  ``attributes.<name>``.
* ``basic``: no user data of its own; ``attributes`` still feed config management.
* ``docker``: a JSON document ``{"env": ..., "command": ...}`` with both rendered,
  for container handlers.

Config management (``chef``, ``puppet_solo``, and ``jobs`` for nodes that
cannot run jobs themselves) adds a cloud-config fragment: merged into a
``#cloud-config`` document, or sent beside any other kind of user data (a
shell script, say) as a multipart MIME message, which cloud-init reads.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import message_from_string
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

from occo.configure.cloudinit import (
    config_management_fragment,
    config_management_names,
    rendered_section,
)
from occo.configure.jobs import JobPlan, plan_jobs
from occo.context.templating import NodeAddresses, TemplateContext, TemplateRenderer
from occo.errors import DescriptionError

CLOUD_CONFIG = "#cloud-config"
_MIME_TYPES = (("#!", "x-shellscript"), ("#include", "x-include-url"),
               ("#cloud-boothook", "cloud-boothook"), ("#part-handler", "part-handler"),
               ("#upstart-job", "upstart-job"))


def template_text(template: Any) -> str:
    """The context template as text (YAML documents are dumped as cloud-config)."""
    if isinstance(template, str):
        return template
    return CLOUD_CONFIG + "\n" + _dump_yaml(template)


def _dump_yaml(data: Any) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # keep order
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def render_attributes(renderer: TemplateRenderer, section: Mapping[str, Any] | None,
                      ctx: TemplateContext) -> dict[str, Any]:
    """The contextualisation ``attributes``, rendered (empty when there are none)."""
    attributes = (section or {}).get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise DescriptionError(f"node '{ctx.node_name}': contextualisation attributes must be "
                               "a mapping")
    return dict(renderer.render_tree(dict(attributes), ctx, what="contextualisation attributes",
                                     path=("contextualisation", "attributes")))


def _own_user_data(renderer: TemplateRenderer, section: Mapping[str, Any] | None,
                   ctx: TemplateContext) -> str | None:
    kind = (section or {}).get("type")
    if kind == "cloudinit":
        template = section.get("context_template") if section else None
        if template is None:
            return None
        where = ("contextualisation", "context_template")
        if isinstance(template, str):
            return renderer.render(template, ctx, what="context_template", path=where)
        # a YAML document: each string rendered in its place, then written out, so a
        # value with quotes or colons stays one YAML string; line breaks it inserts
        # are folded as Occopus's round trip through YAML text folded them
        return template_text(renderer.render_tree(template, ctx, what="context_template",
                                                  path=where, in_yaml=True))
    if kind == "docker" and section:
        env = renderer.render_tree(section.get("env"), ctx, what="docker env",
                                   path=("contextualisation", "env"))
        command = renderer.render_tree(section.get("command"), ctx, what="docker command",
                                       path=("contextualisation", "command"))
        if isinstance(env, list):
            env = dict(str(item).partition("=")[::2] for item in env)
        return json.dumps({"env": env or {}, "command": command}, sort_keys=True)
    return None


def render_user_data(renderer: TemplateRenderer, section: dict[str, Any] | None,
                     ctx: TemplateContext, config_management: Mapping[str, Any] | None = None,
                     *, include_jobs: bool = True) -> str | None:
    """The user data for one instance: contextualisation plus config management.

    ``include_jobs=False`` leaves orchestration jobs out, for handlers that
    run them themselves (:class:`occo.resources.base.Configurable`).
    """
    names = config_management_names(rendered_section(config_management, renderer, ctx))
    ctx = dataclasses.replace(ctx, extras={**ctx.extras, **names})
    attributes = render_attributes(renderer, section, ctx)
    ctx = dataclasses.replace(ctx, attributes=attributes)
    own = _own_user_data(renderer, section, ctx)
    fragment = config_management_fragment(config_management, renderer, ctx,
                                          include_jobs=include_jobs)
    if fragment and (section or {}).get("type") == "docker":
        raise DescriptionError(f"node '{ctx.node_name}': config_management "
                               f"'{(config_management or {}).get('type')}' is delivered by "
                               "cloud-init, which a docker contextualisation does not have")
    return merge_user_data(own, fragment, node_name=ctx.node_name)


def managed_parts(renderer: TemplateRenderer, section: dict[str, Any] | None,
                  config_management: Mapping[str, Any] | None,
                  ctx: TemplateContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a server-side config manager registers: the rendered ``config_management``
    section and the rendered contextualisation ``attributes``."""
    rendered = rendered_section(config_management, renderer, ctx) or {}
    return rendered, render_attributes(renderer, section, ctx)


def merge_user_data(base: str | None, fragment: Mapping[str, Any] | None, *,
                    node_name: str = "?") -> str | None:
    """Add a cloud-config fragment to user data of any kind."""
    if not fragment:
        return base
    if base is None or not base.strip():
        return CLOUD_CONFIG + "\n" + _dump_yaml(dict(fragment))
    if base.lstrip().startswith(CLOUD_CONFIG):
        return CLOUD_CONFIG + "\n" + _dump_yaml(_merge_cloud_config(base, fragment, node_name))
    extra = CLOUD_CONFIG + "\n" + _dump_yaml(dict(fragment))
    if base.lstrip().lower().startswith("content-type: multipart/"):
        message = message_from_string(base.lstrip())
        message.attach(_part(extra, "cloud-config"))
        return message.as_string()
    multipart = MIMEMultipart()
    subtype = next((t for prefix, t in _MIME_TYPES if base.lstrip().startswith(prefix)), "plain")
    multipart.attach(_part(base, subtype))
    multipart.attach(_part(extra, "cloud-config"))
    return multipart.as_string()


def _part(text: str, subtype: str) -> MIMEText:
    charset = "us-ascii" if text.isascii() else "utf-8"
    return MIMEText(text, subtype, charset)


def _merge_cloud_config(base: str, fragment: Mapping[str, Any], node_name: str) -> dict[str, Any]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(base)
    except YAMLError as exc:
        raise DescriptionError(f"node '{node_name}': the rendered cloud-config is not valid "
                               f"YAML, so config management cannot be added to it: {exc}") from None
    data = dict(data or {})
    for key, value in fragment.items():
        have = data.get(key)
        if have is None:
            data[key] = value
        elif isinstance(have, list) and isinstance(value, list):
            data[key] = have + [v for v in value if key != "packages" or v not in have]
        elif isinstance(have, dict) and isinstance(value, dict):
            data[key] = {**have, **value}
        else:
            raise DescriptionError(f"node '{node_name}': the cloud-config already sets "
                                   f"'{key}', which config management also needs")
    return data


# --------------------------------------------------------------------------- dry run


@dataclass(frozen=True)
class ContextPreview:
    """What one new instance of a node would receive, rendered without a cloud."""

    user_data: str | None
    jobs: list[str] = field(default_factory=list)     # run by occo itself (local nodes)


def placeholder_address(node: str) -> NodeAddresses:
    """Stand-in addresses for a dependency that does not exist yet (dry run)."""
    return NodeAddresses(((f"<ip of {node}>", f"<private ip of {node}>"),))


def preview_node(renderer: TemplateRenderer, *, infra_id: str, infra_name: str,
                 node_name: str, dependees: tuple[str, ...], variables: Mapping[str, Any],
                 contextualisation: dict[str, Any] | None,
                 config_management: Mapping[str, Any] | None,
                 runs_jobs: bool, origins: Mapping[str, Any] | None = None) -> ContextPreview:
    """Render a node's user data with placeholder addresses and instance id."""
    ctx = TemplateContext(infra_id=infra_id, infra_name=infra_name, node_name=node_name,
                          instance_id="<node_id>", variables=dict(variables),
                          addresses={d: placeholder_address(d) for d in dependees},
                          origins=origins or {},
                          extras={"occo": {"scaling_token": "<scaling token>"}})
    user_data = render_user_data(renderer, contextualisation, ctx, config_management,
                                 include_jobs=not runs_jobs)
    plan: JobPlan | None = plan_jobs(config_management, renderer, ctx) if runs_jobs else None
    return ContextPreview(user_data, plan.describe() if plan else [])
