"""Config management for nodes booted by cloud-init, as Occopus does it.

Occopus's config managers add nothing to a node's user data: the node's own
``context_template`` installs and runs the tool. What they give is names the
templates can use, computed from the (rendered) ``config_management``
section:

* ``puppet_solo``: ``puppet.modules``, ``puppet.manifests`` and
  ``puppet.attributes``, each a space-separated string of the section's
  items (an attribute item is written the way Python prints a mapping,
  ``{'dbname': 'wp'}``, which Occopus's tutorials turn into hiera data);
* ``chef``: nothing; the node is registered on the Chef server instead (see
  :mod:`occo.configure.chef`).

occo's own ``jobs`` are the exception: for handlers that cannot run them
themselves they become ``runcmd`` and ``write_files`` (see
:mod:`occo.configure.jobs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from occo.configure.jobs import plan_jobs
from occo.context.templating import TemplateContext, TemplateRenderer

PUPPET_KEYS = ("modules", "manifests", "attributes")


def _joined(items: Any) -> str:
    """Occopus's rendering of a section's list (or a mapping's keys) as one string."""
    if items is None:
        return ""
    if isinstance(items, (str, int, float)):
        return str(items)              # one item (Occopus would split a string letter by letter)
    iterable: Iterable[Any] = items.keys() if isinstance(items, Mapping) else items
    return " ".join(str(item) for item in iterable)    # a mapping item: {'k': 'v'}


def rendered_section(section: Mapping[str, Any] | None, renderer: TemplateRenderer,
                     ctx: TemplateContext) -> dict[str, Any] | None:
    """The ``config_management`` section with its templates rendered (jobs are
    rendered per step by their planner, so they are left as written)."""
    if not section:
        return None
    if section.get("type") == "jobs":
        return dict(section)
    kind = section.get("type")
    return dict(renderer.render_tree(dict(section), ctx, what=f"config_management ({kind})",
                                     path=("config_management",), in_yaml=True))


def config_management_names(rendered: Mapping[str, Any] | None) -> dict[str, Any]:
    """Names a config manager adds to the templates' namespace (Occopus's
    "resolved attributes")."""
    if rendered and rendered.get("type") == "puppet_solo":
        return {"puppet": {key: _joined(rendered.get(key)) for key in PUPPET_KEYS}}
    return {}


def config_management_fragment(section: Mapping[str, Any] | None, renderer: TemplateRenderer,
                               ctx: TemplateContext, *, include_jobs: bool = True
                               ) -> dict[str, Any] | None:
    """The cloud-config occo adds to a node's user data: only for ``jobs``."""
    if not section or section.get("type") != "jobs" or not include_jobs:
        return None
    plan = plan_jobs(section, renderer, ctx)
    return plan.cloud_config() if plan is not None and plan.steps else None
