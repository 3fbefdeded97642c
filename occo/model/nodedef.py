"""Node definitions: how a node type is made, contextualised, configured, checked.

A node definition file maps ``'node_def:<type>'`` to a list of
implementations; a node of that type uses one of them, chosen among those
whose ``resource`` section contains the node's ``filter``. Example::

    'node_def:web':
      - resource: {type: ec2, endpoint: https://ec2.eu-west-1.amazonaws.com,
                   regionname: eu-west-1, image_id: ami-0abc, instance_type: t3.small}
        contextualisation:
          type: cloudinit
          context_template: !text_import {url: file://cloud_init_web.yaml}
        health_check: {ping: false, ports: [80], urls: ['http://{{ip}}/'], timeout: 300}
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from occo.errors import DescriptionError
from occo.model.filters import matches_filter
from occo.model.resource_types import RESOURCE_MODELS, GenericResource, ResourceBase
from occo.model.templates import ORIGINS_KEY, template_strings
from occo.model.values import Seconds, StrictText
from occo.model.yamlio import (
    DataPath,
    LoadedYaml,
    describe_validation_error,
    format_path,
    load_yaml_file,
    load_yaml_text,
    suggest,
)

__all__ = [
    "NODE_DEF_PREFIX",
    "RETIRED_RESOURCE_TYPES",
    "BasicContext",
    "ChefConfig",
    "CloudInitContext",
    "DockerContext",
    "HealthCheck",
    "Implementation",
    "JobsConfig",
    "MysqlDb",
    "PuppetSoloConfig",
    "SshAccess",
    "UrlCheck",
    "check_resource_types",
    "load_node_definitions",
    "matches_filter",
    "parse_node_definitions",
    "read_node_definitions",
    "select_implementations",
]

NODE_DEF_PREFIX = "node_def:"

_OTHER = "__other__"   # tag of resource types occo does not know


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True,
                              populate_by_name=True)


# --------------------------------------------------------------------------- contextualisation


class CloudInitContext(_Section):
    """User data for cloud-init, a Jinja2 template rendered per instance."""

    type: Literal["cloudinit"]
    context_template: str | dict[str, Any]
    attributes: dict[str, Any] | None = None


class DockerContext(_Section):
    """Environment and command of a container (docker, azure_aci)."""

    type: Literal["docker"]
    env: list[str] | dict[str, Any] | None = None      # ["k=v", ...] or {k: v}
    command: str | list[str] | None = None
    context_variables: Any = None


class BasicContext(_Section):
    """No user data; attributes only (for config management)."""

    type: Literal["basic"]
    attributes: dict[str, Any] | None = None


Contextualisation = Annotated[
    CloudInitContext | DockerContext | BasicContext,
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------- config management


class ChefConfig(_Section):
    """Chef: the recipes to run from a Chef server."""

    type: Literal["chef"]
    endpoint: str
    run_list: list[str]
    environment: str | None = None
    attributes: dict[str, Any] | None = None


class PuppetSoloConfig(_Section):
    """Puppet without a server: manifests, modules and attribute values."""

    type: Literal["puppet_solo"]
    manifests: str | list[str]
    modules: list[str] | None = None
    attributes: list[Any] | dict[str, Any] | None = None


class JobsConfig(_Section):
    """occo's orchestration jobs: directord-style verbs run on the node.

    Items are kept loose (``{RUN: ...}``, ``{targets: [...], jobs: [...]}``);
    occo.configure interprets them.
    """

    type: Literal["jobs"]
    jobs: list[dict[str, Any]]


ConfigManagement = Annotated[
    ChefConfig | PuppetSoloConfig | JobsConfig,
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------- health check


class MysqlDb(_Section):
    """A MySQL database that must accept this login."""

    name: str
    user: str
    password: str = Field(alias="pass")


class UrlCheck(_Section):
    """A URL to check, with how its https certificate is verified: against the
    system's CAs (true), a CA file (its path), or not at all (false)."""

    url: str
    verify: bool | str = True


def _port(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, str) and "{{" not in value:
        raise ValueError(f"a port must be a number or a template, not {value!r}")
    return value


#: A port number, or a template that renders to one (``"{{ variables.port }}"``).
PortOrTemplate = Annotated[int | str, BeforeValidator(_port)]


class HealthCheck(_Section):
    """When an instance counts as healthy; all listed checks must pass.

    ``timeout``: seconds of continuous failure before the instance is
    considered failed (unset: occo's default). ``command`` is occo's own: a
    command that must exit 0.
    """

    type: Literal["basic"] = "basic"
    ping: bool = True
    ports: list[PortOrTemplate] = Field(default_factory=list)
    urls: list[str | UrlCheck] = Field(default_factory=list)   # "{{ip}}": the address
    mysqldbs: list[MysqlDb] = Field(default_factory=list)
    timeout: Annotated[Seconds, Field(gt=0)] | None = None
    command: StrictText | list[StrictText] | None = None


# --------------------------------------------------------------------------- ssh access


class SshAccess(_Section):
    """How occo reaches an instance over SSH for orchestration jobs (occo's own section).

    Credentials are not here: they come from the ``ssh`` list of auth_data.yaml.
    A section on a node whose handler runs jobs itself (local, docker) makes
    occo use SSH for it instead. String values are templates (``{{node_id}}``...).
    """

    user: str = "root"
    port: int = Field(default=22, ge=1, le=65535)
    host_key_policy: Literal["pin", "known_hosts", "accept"] = "pin"
    known_hosts: str | None = Field(default=None, max_length=100_000)
    workdir: str | None = None
    connect_timeout: float = Field(default=30.0, gt=0, le=600)
    address: Literal["public", "private"] = "public"


# --------------------------------------------------------------------------- implementation


def _resource_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str):
        return None
    return kind if kind in RESOURCE_MODELS else _OTHER


if TYPE_CHECKING:
    Resource = ResourceBase
else:
    # One member per known type, chosen by ``type``; anything else is generic.
    Resource = Annotated[
        Union[tuple(  # noqa: UP007 - a union built from a tuple has no X | Y spelling
            [Annotated[model, Tag(name)] for name, model in RESOURCE_MODELS.items()]
            + [Annotated[GenericResource, Tag(_OTHER)]]
        )],
        Discriminator(_resource_tag, custom_error_type="resource_type_missing",
                      custom_error_message="missing required key 'type'"),
    ]


class Implementation(_Section):
    """One way to make a node: a resource plus optional context, config, health."""

    resource: Resource
    contextualisation: Contextualisation | None = None
    config_management: ConfigManagement | None = None
    health_check: HealthCheck | None = None          # None: the defaults of HealthCheck
    variables: dict[str, Any] = Field(default_factory=dict)
    ssh: SshAccess | None = None                     # day-2 jobs over SSH

    def to_plain(self, origins: Origins | None = None) -> dict[str, Any]:
        """The implementation as written (JSON-able), as the store keeps it, with
        where it was written (``_origins``) when known, for messages about it."""
        data = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        data["resource"] = self.resource_section()
        if origins:
            data[ORIGINS_KEY] = dict(origins)
        return data

    def resource_section(self) -> dict[str, Any]:
        """The resource section as written (no defaults filled in)."""
        resource: ResourceBase = self.resource
        section = resource.model_dump(mode="json", by_alias=True, exclude_unset=True)
        section["type"] = resource.type
        return section


NodeDefinitions = dict[str, list[Implementation]]
#: Where an implementation was written: "" (itself), "resource.type" and each
#: template string (by path) -> [file, first line of its text, column].
Origins = dict[str, list[Any]]

_FILE_TYPE = dict[str, Annotated[list[Implementation], Field(min_length=1)]]
_ADAPTER: TypeAdapter[dict[str, list[Implementation]]] = TypeAdapter(_FILE_TYPE)


# --------------------------------------------------------------------------- loading


def load_node_definitions(path: Path, resource_types: Collection[str] | None = None
                          ) -> NodeDefinitions:
    """Read a node definition file: ``{type: [Implementation, ...]}``.

    With ``resource_types`` (those occo models or a handler is registered for),
    a resource of any other type is refused where it is written.
    """
    return read_node_definitions(path, resource_types)[0]


def read_node_definitions(path: Path, resource_types: Collection[str] | None = None
                          ) -> tuple[NodeDefinitions, dict[str, list[Origins]]]:
    """Read a node definition file, and where each implementation was written."""
    return _build(load_yaml_file(Path(path)), resource_types)


def parse_node_definitions(text: str, source: str, base_dir: Path, *,
                           allow_imports: bool = True,
                           import_root: Path | None = None,
                           resource_types: Collection[str] | None = None) -> NodeDefinitions:
    """Validate node definition text; ``base_dir`` resolves relative imports.

    For text from a remote caller, restrict imports (``allow_imports=False``
    or ``import_root``), as for :func:`occo.model.yamlio.load_yaml_text`.
    """
    return _build(load_yaml_text(text, source, Path(base_dir), allow_imports=allow_imports,
                                 import_root=import_root), resource_types)[0]


# Types Occopus once had and 1.10 refuses; each with what to use instead.
RETIRED_RESOURCE_TYPES = {
    "occi": "OCCI clouds are not supported (Occopus dropped OCCI in release 1.8); "
            "describe the node for the cloud's nova or ec2 interface instead",
    "azure": "the 'azure' type of Occopus before 1.10 no longer exists; use 'azure_vm' "
             "(or 'azure_aci' for a container)",
}


def check_resource_types(impls: Iterable[Implementation], known: Collection[str],
                         loaded: LoadedYaml, prefix: tuple[str | int, ...] = ()) -> None:
    """Refuse a resource whose type no model or handler knows, naming where it is
    written (``prefix`` is the path of the implementation list in ``loaded``)."""
    for index, impl in enumerate(impls):
        kind = impl.resource.type
        if kind in known:
            continue
        path = (*prefix, index, "resource", "type")
        reason = RETIRED_RESOURCE_TYPES.get(kind) or (
            f"no resource handler or model knows it{suggest(kind, known)}; "
            f"known: {', '.join(sorted(known))}")
        raise DescriptionError(f"unknown resource type {kind!r}: {reason}",
                               location=loaded.locations.value(path), path=format_path(path))


def _build(loaded: LoadedYaml, resource_types: Collection[str] | None
           ) -> tuple[NodeDefinitions, dict[str, list[Origins]]]:
    data = loaded.plain
    if not isinstance(data, dict) or not data:
        kind = "empty" if not data else f"a {type(data).__name__}, not a mapping"
        raise DescriptionError(
            f"a node definition file must map 'node_def:<type>' to implementations; "
            f"this document is {kind}", location=loaded.locations.value(()))
    for key in data:
        if not isinstance(key, str) or not key.startswith(NODE_DEF_PREFIX) \
                or not key[len(NODE_DEF_PREFIX):]:
            raise DescriptionError(
                f"a node definition must be named 'node_def:<type>', not {key!r}",
                location=loaded.locations.key((key,)), path=format_path((key,)))
    try:
        parsed = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise describe_validation_error(exc, loaded, _FILE_TYPE) from None
    if resource_types is not None:
        for key, impls in parsed.items():
            check_resource_types(impls, resource_types, loaded, (key,))
    origins = {key[len(NODE_DEF_PREFIX):]: [_origins(loaded, (key, i)) for i in range(len(impls))]
               for key, impls in parsed.items()}
    return {key[len(NODE_DEF_PREFIX):]: impls for key, impls in parsed.items()}, origins


def _origins(loaded: LoadedYaml, at: DataPath) -> Origins:
    """Where an implementation, its resource type and each of its templates start."""
    out: Origins = {}
    for fixed in [(), ("resource", "type")]:
        where = loaded.locations.value((*at, *fixed))
        if where is not None:
            out[format_path(fixed)] = [where.file, where.line, where.column]
    raw = loaded.raw
    for part in at:
        raw = raw[part]
    for path, _text in template_strings(loaded.plain[at[0]][at[1]]):
        where = loaded.locations.value((*at, *path))
        if where is None:
            continue
        imported = loaded.locations.imported_texts.get(where)
        value = raw
        for part in path:
            value = value[part]
        if imported is not None:
            out[format_path(path)] = [imported, 1, 1]
        elif isinstance(value, (LiteralScalarString, FoldedScalarString)):
            out[format_path(path)] = [where.file, where.line + 1, 1]   # text starts below "|"
        else:
            out[format_path(path)] = [where.file, where.line, where.column]
    return out


# --------------------------------------------------------------------------- filters


def select_implementations(impls: Iterable[Implementation],
                           filter: Mapping[str, Any] | None) -> list[Implementation]:
    """The implementations whose resource section contains ``filter``."""
    if not filter:
        return list(impls)
    return [impl for impl in impls if matches_filter(impl.resource_section(), filter)]
