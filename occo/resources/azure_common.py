"""What the ``azure_vm`` and ``azure_aci`` handlers share.

* Credentials: the ``auth_data.yaml`` entry matching the resource section,
  a service principal ``{tenant_id, client_id, client_secret,
  subscription_id}`` as Occopus spells it, plus an optional ``authority`` (the
  identity host, default ``login.microsoftonline.com``; another host, e.g.
  Azure Stack's or a sovereign cloud's, is used as given, without Microsoft's
  instance discovery). The resource's ``endpoint`` is Resource Manager's URL;
  tokens are asked for ``<endpoint>/.default``.
* The Azure SDK for Python (``pip install 'occo[azure]'``), imported only
  when an Azure node is acted on. Requests and answers are ARM's JSON as
  documented in the Azure REST API reference, so occo does not depend on how
  a given SDK release shapes its model classes; the SDK brings
  authentication, retries, API versions and long-running-operation polling.
  Bearer tokens travel over HTTPS only: the SDK refuses anything else, and
  occo does not turn that off.
* Names: everything occo makes for an instance is named after it
  (:class:`AzureNames`, ``occo-<instance id>...``) and tagged with
  ``occo_instance_id``, so a create that was never recorded is found again,
  and destroy removes exactly what occo made, never a resource the node
  definition names.
* A resource group that does not exist is created (in the node's
  ``location``), as Occopus does; occo never deletes a resource group.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from occo.context.auth import AuthEntry
from occo.errors import ConfigError, ResourceError
from occo.model.resource_types import AzureAciResource, AzureVmResource
from occo.resources.base import CreateRequest, CreateResult, HandlerEnv, ResourceRef
from occo.resources.cloud import CloudHandler

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.polling import LROPoller
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from pydantic import BaseModel

AzureSection = AzureVmResource | AzureAciResource
Make = Callable[["AzureAccount"], None]
"""The cloud calls of one create, after the resource group is there."""

DEFAULT_AUTHORITY = "login.microsoftonline.com"
VNET_PREFIX = "10.0.0.0/16"
SUBNET_PREFIX = "10.0.0.0/24"
TAG_INSTANCE = "occo_instance_id"
_CREDENTIAL_KEYS = ("tenant_id", "client_id", "client_secret", "subscription_id")
_QUOTA_CODE = re.compile(r"quota|limitreached|limitexceeded", re.I)
_IN_USE = re.compile(r"inuse|cannotbedeleted|inusebyresource|anotheroperationinprogress", re.I)
ARM_ID = re.compile(r"/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/"
                    r"[^/]+/[^/]+/(?P<name>[^/]+)", re.I)


@dataclass(frozen=True)
class AzureNames:
    """What occo names the resources of one instance."""

    base: str

    @classmethod
    def of(cls, instance_id: str) -> AzureNames:
        return cls(f"occo-{instance_id}")

    @property
    def vm(self) -> str:
        return self.base

    @property
    def group(self) -> str:
        return self.base

    @property
    def nic(self) -> str:
        return self.base + "-nic"

    @property
    def public_ip(self) -> str:
        return self.base + "-ip"

    @property
    def vnet(self) -> str:
        return self.base + "-vnet"

    @property
    def subnet(self) -> str:
        return self.base + "-subnet"

    @property
    def os_disk(self) -> str:
        return self.base + "-osdisk"


def occo_tags(request: CreateRequest) -> dict[str, str]:
    return {TAG_INSTANCE: request.instance_id, "occo_infra_id": request.infra_id,
            "occo_node": request.node_name}


def body(data: dict[str, Any]) -> Any:
    """An ARM JSON request body, as bytes: every SDK operation sends bytes as they are.

    (Typed ``Any``: the SDKs annotate such bodies as ``IO``, yet some releases test
    for ``typing.IO`` at run time, which no file object passes; all accept bytes.)
    """
    return json.dumps(data).encode()


def raw_json(pipeline_response: Any, _deserialized: Any, _headers: Any) -> Any:
    """``cls=`` for SDK calls: the answer's ARM JSON instead of a model object."""
    return json.loads(pipeline_response.http_response.text())


def parse_id(resource_id: str) -> tuple[str, str]:
    """(resource group, name) of an ARM resource id."""
    match = ARM_ID.search(resource_id)
    if match is None:
        raise ResourceError(f"not an Azure resource id: {resource_id!r}")
    return match.group("rg"), match.group("name")


@dataclass
class AzureAccount:
    """One service principal on one subscription and endpoint, with its SDK clients."""

    endpoint: str
    subscription: str
    credential: TokenCredential
    options: dict[str, Any]
    _clients: dict[str, Any] = field(default_factory=dict)

    def _client(self, kind: str, make: Callable[..., Any]) -> Any:
        if kind not in self._clients:
            self._clients[kind] = make(self.credential, self.subscription,
                                       base_url=self.endpoint, **self.options)
        return self._clients[kind]

    @property
    def resources(self) -> ResourceManagementClient:
        from azure.mgmt.resource.resources import ResourceManagementClient

        client: ResourceManagementClient = self._client("resources", ResourceManagementClient)
        return client

    @property
    def network(self) -> NetworkManagementClient:
        from azure.mgmt.network import NetworkManagementClient

        client: NetworkManagementClient = self._client("network", NetworkManagementClient)
        return client

    @property
    def compute(self) -> ComputeManagementClient:
        from azure.mgmt.compute import ComputeManagementClient

        client: ComputeManagementClient = self._client("compute", ComputeManagementClient)
        return client

    @property
    def containers(self) -> ContainerInstanceManagementClient:
        from azure.mgmt.containerinstance import ContainerInstanceManagementClient

        client: ContainerInstanceManagementClient = self._client(
            "containers", ContainerInstanceManagementClient)
        return client

    def id_of(self, rg: str, provider_path: str) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{rg}/providers/{provider_path}"


class AzureHandler(CloudHandler):
    """Credentials, clients, errors, waiting, and the create/recover/destroy of what is
    named after an instance, for the two Azure handlers."""

    kind: ClassVar[str]                 # what an instance is, in messages

    def __init__(self, env: HandlerEnv, log: logging.Logger) -> None:
        super().__init__(env)
        self._log = log
        self._accounts: dict[str, AzureAccount] = {}

    # -- what each handler makes --------------------------------------------------------
    @abstractmethod
    def _section(self, config: BaseModel) -> AzureSection:
        """The resource section as this handler's model."""

    @abstractmethod
    def _plan(self, config: AzureSection, names: AzureNames, request: CreateRequest) -> Make:
        """Check the request (raising before any cloud call) and return its cloud calls."""

    @abstractmethod
    def _lookups(self, account: AzureAccount, config: AzureSection,
                 names: AzureNames) -> list[Callable[[], dict[str, Any] | None]]:
        """Reads of the taggable resources a create makes, for :meth:`recover`."""

    @abstractmethod
    def _remove_all(self, account: AzureAccount, config: AzureSection,
                    names: AzureNames) -> None:
        """Delete everything a create makes, in an order Azure accepts."""

    def _secrets(self, config: AzureSection) -> tuple[str | None, ...]:
        return ()

    # -- create, recover, destroy -------------------------------------------------------
    def create(self, request: CreateRequest) -> CreateResult:
        config = self._section(request.config)
        names = AzureNames.of(request.instance_id)
        try:
            account, entry = self._account(config)
            make = self._plan(config, names, request)
        except Exception:
            self._not_created.add(request.instance_id)
            raise
        made = False
        try:
            self._ensure_group(account, config.resource_group, config.location)
            made = True
            make(account)
        except Exception as exc:  # noqa: BLE001 - undone, then reported as one message
            error = self._error(exc, f"creating a {self.kind} for node '{request.node_name}'",
                                config, entry, *self._secrets(config))
            if not made or self._undo(account, config, names):
                self._not_created.add(request.instance_id)
            raise error from None
        self._log.debug("azure %s %s created for instance %s", self.kind, names.base,
                        request.instance_id)
        return CreateResult(resource_id=names.base,
                            data={"resource_group": config.resource_group})

    def _undo(self, account: AzureAccount, config: AzureSection, names: AzureNames) -> bool:
        """Remove what a failed create made; False when something may be left."""
        try:
            self._remove_all(account, config, names)
        except Exception as exc:  # noqa: BLE001 - the create's error is the one reported
            self._log.warning("%s", self._error(exc, f"removing a half-created {self.kind}",
                                                config, None, *self._secrets(config)))
            return False
        return True

    def recover(self, instance_id: str, config: BaseModel) -> CreateResult | None:
        """What a create made for ``instance_id``, even a part of it (a NIC without its
        VM): destroy then removes whatever exists."""
        if instance_id in self._not_created:
            return None
        section = self._section(config)
        account, entry = self._account(section)
        names = AzureNames.of(instance_id)
        try:
            found = [read() for read in self._lookups(account, section, names)]
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"looking for a lost {self.kind}", section, entry) from None
        if any(r is not None and (r.get("tags") or {}).get(TAG_INSTANCE) == instance_id
               for r in found):
            return CreateResult(resource_id=names.base,
                                data={"resource_group": section.resource_group})
        return None

    def destroy(self, ref: ResourceRef) -> None:
        config = self._section(ref.config)
        account, entry = self._account(config)
        try:
            self._remove_all(account, config, AzureNames.of(ref.instance_id))
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"deleting {self.kind} {ref.resource_id}", config,
                              entry) from None
        self._log.debug("azure %s %s deleted (instance %s)", self.kind, ref.resource_id,
                        ref.instance_id)

    # -- accounts -------------------------------------------------------------------
    def _account(self, config: BaseModel) -> tuple[AzureAccount, AuthEntry]:
        entry, auth = self._auth.for_resource(config.model_dump(mode="json", exclude_none=True))
        missing = [k for k in _CREDENTIAL_KEYS if not auth.get(k)]
        if missing:
            raise ConfigError(f"{self._auth.source}: {entry.describe()}: {self.name} needs "
                              f"{', '.join(_CREDENTIAL_KEYS)}; missing {', '.join(missing)}")
        endpoint = str(getattr(config, "endpoint", "")).rstrip("/")
        if not endpoint.lower().startswith("https://"):
            raise ConfigError(f"{self.name} endpoint {endpoint!r}: Azure Resource Manager is "
                              "reached over https only (credentials travel with each request)")
        authority = str(auth.get("authority") or DEFAULT_AUTHORITY)
        key = hashlib.sha256(json.dumps([endpoint, authority, *(str(auth[k]) for k in
                                                                 _CREDENTIAL_KEYS)])
                             .encode()).hexdigest()
        with self._lock:
            account = self._accounts.get(key)
            if account is None:
                account = self._new_account(endpoint, authority, auth)
                self._accounts[key] = account
        return account, entry

    def _new_account(self, endpoint: str, authority: str, auth: dict[str, Any]) -> AzureAccount:
        from azure.identity import ClientSecretCredential

        settings = self.settings
        credential = ClientSecretCredential(
            str(auth["tenant_id"]), str(auth["client_id"]), str(auth["client_secret"]),
            authority=authority,
            disable_instance_discovery=authority.removeprefix("https://") != DEFAULT_AUTHORITY,
            connection_timeout=settings.request_timeout, read_timeout=settings.request_timeout,
            retry_total=settings.retries)
        options = {"credential_scopes": [endpoint + "/.default"],
                   "polling_interval": settings.poll_interval,
                   "retry_total": settings.retries,
                   "retry_backoff_factor": settings.poll_interval,
                   "connection_timeout": settings.request_timeout,
                   "read_timeout": settings.request_timeout}
        return AzureAccount(endpoint, str(auth["subscription_id"]), credential, options)

    # -- errors ---------------------------------------------------------------------
    def _error(self, exc: BaseException, doing: str, config: BaseModel,
               entry: AuthEntry | None = None, *secrets: str | None) -> ResourceError:
        """One clear, secret-free message for what Azure (or the way to it) said."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        if isinstance(exc, ResourceError):
            return exc
        where = f"Azure at {getattr(config, 'endpoint', '?')}"
        retry = None
        status = getattr(exc, "status_code", None)
        if isinstance(exc, ClientAuthenticationError) and status in (None, 400, 401):
            who = f" for {entry.describe()} of {self._auth.source}" if entry else ""
            text = f"{where} rejected the credentials{who}: {_auth_message(exc)}"
        elif isinstance(exc, HttpResponseError) and status is not None:
            code = str(getattr(exc.error, "code", "") or "")
            message = str(getattr(exc.error, "message", "") or exc.message or exc)
            message = message.splitlines()[0] if message else f"HTTP {status}"
            if _QUOTA_CODE.search(code) or (code == "OperationNotAllowed" and
                                            "quota" in message.lower()):
                text = (f"{where}: quota exceeded in {getattr(config, 'location', '?')} while "
                        f"{doing}: {message} ({code})")
            elif status == 403:
                who = f" of {entry.describe()}" if entry else ""
                text = f"{where}: the credentials{who} may not do this ({doing}): {message}" \
                       f" ({code or status})"
            else:
                retry = 30.0 if status in (429, 503) else None
                text = f"{where}: {doing} failed: {message} ({code or f'HTTP {status}'})"
        elif isinstance(exc, ServiceRequestError | ServiceResponseError):
            text = f"cannot reach {where} while {doing}: {exc.message or exc}"
        else:
            text = f"{where}: {doing} failed: {type(exc).__name__}: {exc}"
        return ResourceError(self._scrub(text, *secrets), handler=self.name, retry_after=retry)

    # -- waiting and deleting -------------------------------------------------------
    def _finish(self, poller: LROPoller[Any], what: str) -> Any:
        """The result of a long-running operation, within ``operation_timeout``."""
        poller.wait(self.settings.operation_timeout)
        if not poller.done():
            raise ResourceError(f"Azure: {what}: not done after "
                                f"{self.settings.operation_timeout:g} s", handler=self.name)
        return poller.result()

    def _ensure_group(self, account: AzureAccount, rg: str, location: str) -> None:
        if not account.resources.resource_groups.check_existence(rg):
            account.resources.resource_groups.create_or_update(
                rg, body({"location": location, "tags": {"created_by": "occo"}}))
            self._log.info("created Azure resource group %s in %s", rg, location)

    def _delete(self, begin: Callable[[], LROPoller[Any]], what: str) -> None:
        """Delete and wait; a missing resource is fine, one still in use is tried again
        (Azure releases a NIC or subnet a little after what used it is gone)."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        def attempt() -> bool | None:
            try:
                self._finish(begin(), what)
            except ResourceNotFoundError:
                return True
            except HttpResponseError as exc:
                if _IN_USE.search(str(getattr(exc.error, "code", "") or "")):
                    return None
                raise
            return True

        self._wait(what, attempt)

    def _subnet(self, account: AzureAccount, rg: str, location: str, names: AzureNames,
                vnet_name: str | None, subnet_name: str | None, request: CreateRequest,
                subnet_properties: dict[str, Any]) -> str:
        """The id of the subnet an instance joins: the named one; a new one in the named
        network; or a new network of its own (``VNET_PREFIX``) with a subnet."""
        network = account.network
        subnet = subnet_name or names.subnet
        properties = {"addressPrefix": SUBNET_PREFIX, **subnet_properties}
        if vnet_name:
            if subnet_name is None:
                self._finish(network.subnets.begin_create_or_update(
                    rg, vnet_name, subnet, body({"properties": properties})),
                    f"creating subnet {subnet} in {vnet_name}")
        else:
            vnet_name = names.vnet
            self._finish(network.virtual_networks.begin_create_or_update(rg, vnet_name, body({
                "location": location, "tags": occo_tags(request),
                "properties": {"addressSpace": {"addressPrefixes": [VNET_PREFIX]},
                               "subnets": [{"name": subnet, "properties": properties}]}})),
                f"creating virtual network {vnet_name}")
        return account.id_of(rg, f"Microsoft.Network/virtualNetworks/{vnet_name}/subnets/"
                                 f"{subnet}")

    def _remove_network(self, account: AzureAccount, rg: str, names: AzureNames,
                        vnet_name: str | None, subnet_name: str | None) -> None:
        """Delete what :meth:`_subnet` made (nothing when both were named)."""
        network = account.network
        if not vnet_name:
            self._delete(lambda: network.virtual_networks.begin_delete(rg, names.vnet),
                         f"deleting virtual network {names.vnet}")
        elif not subnet_name:
            self._delete(lambda: network.subnets.begin_delete(rg, vnet_name, names.subnet),
                         f"deleting subnet {names.subnet} of {vnet_name}")

    @staticmethod
    def _get(read: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """ARM JSON of a GET, None when the resource does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            found: dict[str, Any] = read(*args, cls=raw_json, **kwargs)
        except ResourceNotFoundError:
            return None
        return found


def _auth_message(exc: BaseException) -> str:
    """The identity platform's own words (``AADSTS...: ...``), without the SDK's wrapping."""
    text = str(getattr(exc, "message", None) or exc)
    match = re.search(r"(AADSTS\d+:[^\r\n]*)", text)
    if match:
        return match.group(1).strip()
    return text.splitlines()[0] if text else type(exc).__name__
