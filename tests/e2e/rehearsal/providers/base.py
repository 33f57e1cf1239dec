"""A resource provider's gRPC service (pulumi's provider.proto), shared by the aws and eks plugins.

The engine starts a plugin as `pulumi-resource-<name> <engine address>`, reads the port it serves
on from the first line of stdout, and calls the ResourceProvider service (the same protocol the
real providers speak; pulumi/dynamic/__main__.py is the Python SDK's own example of it).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from concurrent import futures
from threading import Event
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's wire value for an unknown


def to_dict(value: struct_pb2.Struct | None) -> dict[str, Any]:
    return json_format.MessageToDict(value) if value is not None else {}


def to_struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(_plain(value))
    return struct


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def has_unknowns(value: Any) -> bool:
    if isinstance(value, dict):
        return any(has_unknowns(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknowns(v) for v in value)
    return value == UNKNOWN


class ProviderError(Exception):
    """A failed operation, reported to the engine with this text (as a provider's error)."""


def guarded(method: Callable) -> Callable:
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except ProviderError as err:
            context.abort(grpc.StatusCode.UNKNOWN, str(err))
        except Exception as err:  # the engine shows it; the traceback goes to the plugin log
            traceback.print_exc(file=sys.stderr)
            context.abort(grpc.StatusCode.UNKNOWN, f"{type(err).__name__}: {err}")

    wrapper.__name__ = method.__name__
    return wrapper


class Servicer(provider_pb2_grpc.ResourceProviderServicer):
    """The parts every plugin answers the same way."""

    name = "provider"
    version = "0.0.0"

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=self.version)

    def GetSchema(self, request, context):
        return provider_pb2.GetSchemaResponse(schema="{}")

    def CheckConfig(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request, context):
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    def Configure(self, request, context):
        self.config = dict(request.variables)
        return provider_pb2.ConfigureResponse(
            acceptSecrets=False, supportsPreview=False, acceptResources=True, acceptOutputs=False
        )

    def Cancel(self, request, context):
        return empty_pb2.Empty()


def serve(servicer: Servicer) -> None:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)],
    )
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    if os.environ.get("PULUMI_DEBUG_PROVIDERS"):
        sys.stderr.write(f"{servicer.name} serving on {port}\n")
    Event().wait()
