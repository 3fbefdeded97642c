"""Config management rendered as a cloud-config fragment, for nodes booted by cloud-init.

* ``chef``: cloud-init's ``chef`` module (omnibus install, the node registers
  with ``endpoint`` and runs ``run_list``). The validation key is not put in
  the user data (user data is readable from inside the VM and shown by
  ``--dry-run``): bake ``/etc/chef/validation.pem`` into the image.
* ``puppet_solo``: puppet is installed, modules are installed from the Forge,
  ``attributes`` become external facts, and each manifest (inline text, or
  an http(s) URL fetched on the node) is applied with ``puppet apply``.
* ``jobs``: see :mod:`occo.configure.jobs` (``runcmd`` and ``write_files``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from occo.configure.jobs import plan_jobs
from occo.context.templating import TemplateContext, TemplateRenderer

PUPPET_DIR = "/etc/occo/puppet"
FACTS_FILE = "/etc/facter/facts.d/occo.json"


def _merged_attributes(base: Mapping[str, Any], extra: Any) -> dict[str, Any]:
    """Contextualisation attributes overlaid with the config manager's own."""
    out = dict(base)
    if isinstance(extra, Mapping):
        out.update(extra)
    elif isinstance(extra, list):
        for item in extra:
            if isinstance(item, Mapping):
                out.update(item)
    return out


def chef_fragment(section: Mapping[str, Any], attributes: Mapping[str, Any],
                  ctx: TemplateContext) -> dict[str, Any]:
    chef: dict[str, Any] = {
        "install_type": "omnibus",
        "server_url": section["endpoint"],
        "node_name": f"{ctx.node_name}-{ctx.instance_id}",
        "run_list": list(section.get("run_list") or []),
        "validation_cert": "system",
        "exec": True,
    }
    if section.get("environment"):
        chef["environment"] = section["environment"]
    initial = _merged_attributes(attributes, section.get("attributes"))
    if initial:
        chef["initial_attributes"] = initial
    return {"chef": chef}


def puppet_fragment(section: Mapping[str, Any], attributes: Mapping[str, Any]) -> dict[str, Any]:
    manifests = section.get("manifests") or []
    if isinstance(manifests, str):
        manifests = [manifests]
    write_files: list[dict[str, Any]] = []
    runcmd: list[Any] = [["mkdir", "-p", PUPPET_DIR]]
    for module in section.get("modules") or []:
        runcmd.append(["puppet", "module", "install", str(module)])
    facts = _merged_attributes(attributes, section.get("attributes"))
    if facts:
        write_files.append({"path": FACTS_FILE, "permissions": "0644",
                            "content": json.dumps(facts, indent=2, sort_keys=True) + "\n"})
    for number, manifest in enumerate(manifests, start=1):
        path = f"{PUPPET_DIR}/manifest-{number}.pp"
        text = str(manifest)
        if text.startswith(("http://", "https://")) and "\n" not in text.strip():
            runcmd.append(["curl", "-fsSL", "--retry", "5", "-o", path, text.strip()])
        else:
            write_files.append({"path": path, "permissions": "0644", "content": text})
        runcmd.append(["puppet", "apply", path])
    out: dict[str, Any] = {"packages": ["puppet", "curl"], "runcmd": runcmd}
    if write_files:
        out["write_files"] = write_files
    return out


def config_management_fragment(section: Mapping[str, Any] | None,
                               attributes: Mapping[str, Any], renderer: TemplateRenderer,
                               ctx: TemplateContext, *, include_jobs: bool = True
                               ) -> dict[str, Any] | None:
    """The cloud-config a node's config management adds to its user data (or None)."""
    if not section:
        return None
    kind = section.get("type")
    if kind == "jobs":
        if not include_jobs:
            return None
        plan = plan_jobs(section, renderer, ctx)
        return plan.cloud_config() if plan is not None and plan.steps else None
    rendered = renderer.render_tree(dict(section), ctx, what=f"config_management ({kind})")
    if kind == "chef":
        return chef_fragment(rendered, attributes, ctx)
    if kind == "puppet_solo":
        return puppet_fragment(rendered, attributes)
    return None
