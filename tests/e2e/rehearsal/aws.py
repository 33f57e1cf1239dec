"""AWS for the rehearsal: a moto server on loopback, with what moto lacks added in its own terms.

moto (the server mode of the `moto` package) answers EC2, IAM, STS and EKS. Added here, each in
moto's backend so that boto3 reaches it over HTTP like any other call:
- EKS access entries, access-policy associations and add-ons, and DescribeAddonVersions (moto 5.2
  has none of them); the shapes come from botocore's EKS model, which moto serializes with.
- EKS CreateCluster starts a real control plane (see world.py) and reports CREATING until its API
  server is ready, then ACTIVE with that endpoint and CA, as EKS does; DeleteCluster stops it.
  `bootstrapClusterCreatorAdminPermissions` gives the caller an admin access entry (EKS API docs,
  CreateCluster accessConfig).
- Service Quotas values from the account file (moto serves no EC2 quotas in ap-northeast-2).
- Presigned requests (the EKS token's STS GetCallerIdentity URL) carry their credentials in the
  query string; moto's dispatcher only reads the Authorization header, so a WSGI shim copies them
  there. moto does not check signatures, real STS does: the authenticator still checks that
  `x-k8s-aws-id` is among the signed headers.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# Add-on versions per Kubernetes minor (EKS DescribeAddonVersions shape); any listed version is
# what `aws:eks/getAddonVersion` with mostRecent picks.
ADDON_VERSIONS = {
    "kube-proxy": "v1.33.3-eksbuild.6",
    "coredns": "v1.12.1-eksbuild.2",
    "vpc-cni": "v1.20.0-eksbuild.1",
}


class Hooks:
    """What the world does when EKS clusters come and go (set by the world before serving)."""

    on_cluster_created: Callable[[str, str, Any], None] = staticmethod(lambda *_: None)
    on_cluster_deleted: Callable[[str, str], None] = staticmethod(lambda *_: None)


HOOKS = Hooks()
_LOCK = threading.Lock()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iam_principal(arn: str) -> str:
    """The IAM ARN EKS keys access entries by: an STS session ARN becomes its role's ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return arn
    partition, account, resource = parts[1], parts[4], parts[5]
    kind, _, rest = resource.partition("/")
    if parts[2] == "sts" and kind == "assumed-role":
        return f"arn:{partition}:iam::{account}:role/{rest.split('/', 1)[0]}"
    if parts[2] == "sts" and kind == "user":
        return f"arn:{partition}:iam::{account}:user/{rest}"
    return arn


def caller_arn(account: str, region: str, access_key: str) -> str:
    """Who moto says an access key is (its STS GetCallerIdentity), as an IAM principal."""
    from moto.sts.models import sts_backends

    _, arn, _ = sts_backends[account]["global"].get_caller_identity(access_key, region)
    return iam_principal(arn)


# ---------------------------------------------------------------------------- EKS additions


def _install_eks(patch: Patch) -> None:
    from moto.core.responses import ActionResult, EmptyResult
    from moto.eks import models, responses, urls
    from moto.eks.exceptions import ResourceInUseException, ResourceNotFoundException

    original_create = responses.EKSResponse.create_cluster
    original_delete = models.EKSBackend.delete_cluster

    def create_cluster(self) -> Any:
        result = original_create(self)
        cluster = self.eks_backend.clusters[self._get_param("name")]
        access = self._get_param("accessConfig") or {}
        cluster.access_config = {
            "authenticationMode": access.get("authenticationMode", "CONFIG_MAP"),
            "bootstrapClusterCreatorAdminPermissions": access.get(
                "bootstrapClusterCreatorAdminPermissions", True
            ),
        }
        cluster.compute_config = self._get_param("computeConfig")
        cluster.storage_config = self._get_param("storageConfig")
        cluster.upgrade_policy = {"supportType": "EXTENDED"}
        network = self._get_param("kubernetesNetworkConfig") or {}
        cluster.kubernetes_network_config = {
            "serviceIpv4Cidr": "10.100.0.0/16",
            "ipFamily": network.get("ipFamily", "ipv4"),
            **(
                {"elasticLoadBalancing": network["elasticLoadBalancing"]}
                if network.get("elasticLoadBalancing")
                else {}
            ),
        }
        cluster.bootstrap_self_managed_addons = self._get_param("bootstrapSelfManagedAddons", True)
        cluster.access_entries = {}
        cluster.addons = {}
        cluster.status = "CREATING"
        cluster.endpoint = None
        if cluster.access_config["bootstrapClusterCreatorAdminPermissions"]:
            creator = caller_arn(self.current_account, self.region, self.get_access_key())
            cluster.access_entries[creator] = _entry(cluster, creator, "STANDARD")
            cluster.access_entries[creator]["policies"][CLUSTER_ADMIN_POLICY] = _association(
                CLUSTER_ADMIN_POLICY, {"type": "cluster"}
            )
        HOOKS.on_cluster_created(self.current_account, self.region, cluster)
        return result

    def delete_cluster(self, name: str) -> Any:
        deleted = original_delete(self, name)  # its add-ons and access entries go with it
        HOOKS.on_cluster_deleted(self.account_id, name)
        return deleted

    def in_use(cluster: Any, message: str, addon: str | None = None) -> Exception:
        """EKS's ResourceInUseException for something that exists already on the cluster."""
        return ResourceInUseException(
            clusterName=cluster.name, nodegroupName=None, addonName=addon, message=message
        )

    def no_addon(cluster: Any, name: str) -> Exception:
        return ResourceNotFoundException(
            clusterName=cluster.name,
            nodegroupName=None,
            fargateProfileName=None,
            addonName=name,
            message=f"No addon: {name} found in cluster: {cluster.name}",
        )

    def cluster_of(self, name: str) -> Any:
        cluster = self.eks_backend.clusters.get(name)
        if cluster is None:
            raise ResourceNotFoundException(
                clusterName=name,
                nodegroupName=None,
                fargateProfileName=None,
                addonName=None,
                message=f"No cluster found for name: {name}.",
            )
        return cluster

    def _path_param(self, key: str) -> str:
        value = (self.uri_match or {}).get(key) if isinstance(self.uri_match, dict) else None
        return urllib.parse.unquote(value or self._get_param(key) or "")

    # -- access entries (paths and shapes: botocore EKS model) --
    def create_access_entry(self) -> Any:
        cluster = cluster_of(self, self._get_param("name"))
        principal = self._get_param("principalArn")
        with _LOCK:
            if principal in cluster.access_entries:
                raise in_use(
                    cluster,
                    "The specified access entry resource is already in use on this cluster.",
                )
            entry = _entry(
                cluster,
                principal,
                self._get_param("type") or "STANDARD",
                self._get_param("kubernetesGroups") or [],
                self._get_param("username"),
                self._get_param("tags") or {},
            )
            cluster.access_entries[principal] = entry
        return ActionResult({"accessEntry": _public(entry)})

    def describe_access_entry(self) -> Any:
        cluster = cluster_of(self, _path_param(self, "name"))
        entry = _entry_of(cluster, _path_param(self, "principalArn"), ResourceNotFoundException)
        return ActionResult({"accessEntry": _public(entry)})

    def delete_access_entry(self) -> Any:
        cluster = cluster_of(self, _path_param(self, "name"))
        principal = _path_param(self, "principalArn")
        _entry_of(cluster, principal, ResourceNotFoundException)
        with _LOCK:
            cluster.access_entries.pop(principal, None)
        return EmptyResult()

    def list_access_entries(self) -> Any:
        cluster = cluster_of(self, _path_param(self, "name"))
        return ActionResult({"accessEntries": sorted(cluster.access_entries)})

    def associate_access_policy(self) -> Any:
        cluster = cluster_of(self, _path_param(self, "name"))
        principal = _path_param(self, "principalArn")
        entry = _entry_of(cluster, principal, ResourceNotFoundException)
        policy = self._get_param("policyArn")
        association = _association(policy, self._get_param("accessScope") or {"type": "cluster"})
        with _LOCK:
            entry["policies"][policy] = association
        return ActionResult(
            {
                "clusterName": cluster.name,
                "principalArn": principal,
                "associatedAccessPolicy": association,
            }
        )

    def list_associated_access_policies(self) -> Any:
        cluster = cluster_of(self, _path_param(self, "name"))
        principal = _path_param(self, "principalArn")
        entry = _entry_of(cluster, principal, ResourceNotFoundException)
        return ActionResult(
            {
                "clusterName": cluster.name,
                "principalArn": principal,
                "associatedAccessPolicies": list(entry["policies"].values()),
            }
        )

    def disassociate_access_policy(self) -> Any:
        cluster = cluster_of(self, _path_param(self, "name"))
        entry = _entry_of(cluster, _path_param(self, "principalArn"), ResourceNotFoundException)
        with _LOCK:
            entry["policies"].pop(_path_param(self, "policyArn"), None)
        return EmptyResult()

    # -- add-ons --
    def create_addon(self) -> Any:
        cluster = cluster_of(self, _path_param(self, "name"))
        name = self._get_param("addonName")
        with _LOCK:
            if name in cluster.addons:
                raise in_use(cluster, f"Addon already exists: {name}", addon=name)
            addon = {
                "addonName": name,
                "clusterName": cluster.name,
                "status": "ACTIVE",
                "addonVersion": self._get_param("addonVersion")
                or ADDON_VERSIONS.get(name, "v1.0.0-eksbuild.1"),
                "health": {"issues": []},
                "addonArn": (
                    f"arn:aws:eks:{self.region}:{self.current_account}:addon/{cluster.name}/"
                    f"{name}/rehearsal"
                ),
                "createdAt": _now(),
                "modifiedAt": _now(),
                "serviceAccountRoleArn": self._get_param("serviceAccountRoleArn"),
                "tags": self._get_param("tags") or {},
                "configurationValues": self._get_param("configurationValues"),
            }
            cluster.addons[name] = {k: v for k, v in addon.items() if v is not None}
        return ActionResult({"addon": cluster.addons[name]})

    def describe_addon(self) -> Any:
        cluster = cluster_of(self, _path_param(self, "name"))
        name = _path_param(self, "addonName")
        if name not in cluster.addons:
            raise no_addon(cluster, name)
        return ActionResult({"addon": cluster.addons[name]})

    def update_addon(self) -> Any:
        cluster = cluster_of(self, _path_param(self, "name"))
        name = _path_param(self, "addonName")
        with _LOCK:
            addon = cluster.addons[name]
            for key in ("addonVersion", "configurationValues", "serviceAccountRoleArn"):
                if self._get_param(key) is not None:
                    addon[key] = self._get_param(key)
            addon["modifiedAt"] = _now()
        return ActionResult(
            {
                "update": {
                    "id": "rehearsal",
                    "status": "Successful",
                    "type": "AddonUpdate",
                    "params": [],
                    "createdAt": _now(),
                    "errors": [],
                }
            }
        )

    def delete_addon(self) -> Any:
        cluster = cluster_of(self, _path_param(self, "name"))
        name = _path_param(self, "addonName")
        with _LOCK:
            addon = cluster.addons.pop(name, None)
        if addon is None:
            raise no_addon(cluster, name)
        return ActionResult({"addon": {**addon, "status": "DELETING"}})

    def list_addons(self) -> Any:
        cluster = cluster_of(self, _path_param(self, "name"))
        return ActionResult({"addons": sorted(cluster.addons)})

    def describe_addon_versions(self) -> Any:
        wanted = self._get_param("addonName")
        version = self._get_param("kubernetesVersion") or "1.33"
        addons = [
            {
                "addonName": name,
                "type": "networking",
                "addonVersions": [
                    {
                        "addonVersion": number,
                        "architecture": ["amd64", "arm64"],
                        "compatibilities": [
                            {
                                "clusterVersion": version,
                                "platformVersions": ["*"],
                                "defaultVersion": True,
                            }
                        ],
                        "requiresConfiguration": False,
                    }
                ],
                "owner": "aws",
            }
            for name, number in sorted(ADDON_VERSIONS.items())
            if not wanted or name == wanted
        ]
        return ActionResult({"addons": addons})

    for method in (
        create_cluster,
        create_access_entry,
        describe_access_entry,
        delete_access_entry,
        list_access_entries,
        associate_access_policy,
        list_associated_access_policies,
        disassociate_access_policy,
        create_addon,
        describe_addon,
        update_addon,
        delete_addon,
        list_addons,
        describe_addon_versions,
    ):
        patch.setattr(responses.EKSResponse, method.__name__, method, raising=False)
    patch.setattr(models.EKSBackend, "delete_cluster", delete_cluster, raising=False)
    dispatch = urls.response.dispatch
    for path in (
        r"{0}/clusters/(?P<name>[^/]+)/access-entries$",
        r"{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>arn:.+?)/access-policies$",
        r"{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>arn:.+?)/access-policies/(?P<policyArn>arn:.+)$",
        r"{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>arn:.+)$",
        r"{0}/clusters/(?P<name>[^/]+)/addons$",
        r"{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$",
        r"{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)/update$",
        r"{0}/addons/supported-versions$",
    ):
        patch.setitem(urls.url_paths, path, dispatch)


def _entry(cluster, principal, kind, groups=(), username=None, tags=None) -> dict:
    return {
        "clusterName": cluster.name,
        "principalArn": principal,
        "kubernetesGroups": list(groups),
        "accessEntryArn": (
            f"{cluster.arn.replace(':cluster/', ':access-entry/')}/{principal.rsplit('/', 1)[-1]}"
        ),
        "createdAt": _now(),
        "modifiedAt": _now(),
        "tags": dict(tags or {}),
        "username": username or principal,
        "type": kind,
        "policies": {},
    }


def _public(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k != "policies"}


def _association(policy: str, scope: dict) -> dict:
    return {"policyArn": policy, "accessScope": scope, "associatedAt": _now(), "modifiedAt": _now()}


def _entry_of(cluster, principal: str, not_found) -> dict:
    entry = cluster.access_entries.get(principal)
    if entry is None:
        raise not_found(
            clusterName=cluster.name,
            nodegroupName=None,
            fargateProfileName=None,
            addonName=None,
            message="The specified principalArn could not be found. You can view your available "
            "access entries with 'list-access-entries'.",
        )
    return entry


# ---------------------------------------------------------------------------- Service Quotas


def _install_quotas(values: dict[str, float], patch: Patch) -> None:
    from moto.servicequotas import responses

    def quota(code: str, region: str, account: str) -> dict:
        return {
            "ServiceCode": "ec2",
            "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
            "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:ec2/{code}",
            "QuotaCode": code,
            "QuotaName": code,
            "Value": values[code],
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }

    def get_service_quota(self) -> str:
        import json

        from moto.core.exceptions import JsonRESTError

        params = json.loads(self.body or "{}")
        code = params.get("QuotaCode")
        if params.get("ServiceCode") != "ec2" or code not in values:
            raise JsonRESTError(
                "NoSuchResourceException",
                f"The request failed because the specified quota {code} does not exist.",
            )
        return json.dumps({"Quota": quota(code, self.region, self.current_account)})

    for name in ("get_service_quota", "get_aws_default_service_quota"):
        patch.setattr(responses.ServiceQuotasResponse, name, get_service_quota, raising=False)


# ---------------------------------------------------------------------------- the server


def query_credentials(app):
    """WSGI shim: a presigned request's X-Amz-* query parameters as an Authorization header, so
    moto's dispatcher routes it to the service it was signed for."""

    def wrapped(environ, start_response):
        if "HTTP_AUTHORIZATION" not in environ:
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            credential = (query.get("X-Amz-Credential") or [None])[0]
            if credential:
                signed = (query.get("X-Amz-SignedHeaders") or [""])[0]
                signature = (query.get("X-Amz-Signature") or [""])[0]
                environ["HTTP_AUTHORIZATION"] = (
                    f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, "
                    f"Signature={signature}"
                )
        return app(environ, start_response)

    return wrapped


class Patch(Protocol):
    """Where the additions go: pytest's MonkeyPatch in a test (undone after it), `Permanent` in
    the world's own process."""

    def setattr(self, target: Any, name: str, value: Any, raising: bool = True) -> None: ...

    def setitem(self, mapping: dict, name: str, value: Any) -> None: ...


class Permanent:
    def setattr(self, target: Any, name: str, value: Any, raising: bool = True) -> None:
        setattr(target, name, value)

    def setitem(self, mapping: dict, name: str, value: Any) -> None:
        mapping[name] = value


class Moto:
    """moto's server app behind the shim, on a loopback port. The EKS and Service Quotas
    additions patch moto's classes through `patch`."""

    def __init__(self, quotas: dict[str, float], patch: Patch | None = None) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        patch = patch or Permanent()
        _install_eks(patch)
        _install_quotas(quotas, patch)
        app = query_credentials(DomainDispatcherApplication(create_backend_app))
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()

    def client_environment(self, region: str) -> dict[str, str]:
        """What points an AWS SDK or CLI at this server: throw-away credentials, and no shared
        config, credentials file or instance metadata to fall back to."""
        return client_environment(self.url, region)


def client_environment(url: str, region: str) -> dict[str, str]:
    """`Moto.client_environment` for a server known by its URL (the world runs in a process of
    its own)."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
