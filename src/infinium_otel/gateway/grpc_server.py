"""OTLP/gRPC ``TraceService/Export`` on the same pipeline (only when grpcio is installed).

Bounded like the HTTP side: a fixed worker pool, a cap on calls at once (past it
gRPC answers RESOURCE_EXHAUSTED) and a maximum message size.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from infinium_otel.gateway.core import Pipeline
from infinium_otel.gateway.wire import parse_request

__all__ = ["grpc_available", "start_grpc"]

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def grpc_available() -> bool:
    """Whether grpcio is installed (the ``gateway`` extra brings it)."""
    try:
        import grpc  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


def start_grpc(
    pipeline: Pipeline, host: str, port: int, credentials: Any = None
) -> tuple[Any, int]:
    """A started gRPC server on ``host:port`` (0 picks one) and the port it bound;
    with ``credentials`` (``grpc.ssl_server_credentials``) it speaks only TLS."""
    import grpc  # type: ignore[import-not-found,import-untyped,unused-ignore]
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    options = pipeline.options

    class TraceService(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc,unused-ignore]
        def Export(self, request: Message, context: Any) -> ExportTraceServiceResponse:
            pipeline.count_request()
            metadata = dict(context.invocation_metadata() or ())
            if not pipeline.authorized(metadata.get("authorization")):
                pipeline.count(requests_unauthorized=1)
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
            admission = pipeline.receive(request)
            if admission.busy:
                # UNAVAILABLE is the retryable answer in the OTLP specification.
                context.abort(grpc.StatusCode.UNAVAILABLE, admission.message)
            response = ExportTraceServiceResponse()
            if admission.rejected:
                response.partial_success.rejected_spans = admission.rejected
                response.partial_success.error_message = admission.message
            return response

    server = grpc.server(
        ThreadPoolExecutor(max_workers=options.grpc_workers, thread_name_prefix="infinium-grpc"),
        options=[
            ("grpc.max_receive_message_length", options.max_body_bytes),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=options.max_concurrent_requests,
    )
    # The generated ``add_TraceServiceServicer_to_server``, with requests parsed as the
    # HTTP listener parses them (spans' attributes left encoded: ``wire.py``).
    export = grpc.unary_unary_rpc_method_handler(
        TraceService().Export,
        request_deserializer=parse_request,
        response_serializer=ExportTraceServiceResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Export": export}),)
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if credentials is not None:
        bound = server.add_secure_port(address, credentials)
    else:
        bound = server.add_insecure_port(address)
    if not bound:
        raise OSError(f"cannot listen for gRPC on {address}")
    server.start()
    return server, int(bound)
