"""net: asyncio drivers over the sans-I/O cores (ul, dimse): connect with a classified outcome, TLS, the
association (SCU), a small SCP, per-phase timeouts and the trace. See docs/ARCHITECTURE.md."""

from .association import (
    Association,
    AssociationAborted,
    AssociationError,
    AssociationRejected,
    AssociationTimeout,
    FindQuery,
    NoAcceptedContext,
    PeerProtocolError,
    Response,
    RetrieveResult,
    associate,
    build_contexts,
    build_roles,
    retrieve_contexts,
)
from .channel import Channel, ChannelEvent
from .connect import CONNECT_OUTCOMES, ConnectFailed, Connected, TLSHandshakeFailed, connect, probe_tcp, resolve
from .datasets import (
    QR_MODELS,
    SourceError,
    StoreSource,
    identifier,
    load_source,
    sop_class_for,
    storage_sop_classes,
)
from .scp import AssociationRecord, ReceivedInstance, Reply, RetrieveStatus, SCPBehaviour, SCPContext, SCPServer
from .storage import ArchiveSCP, StorageSCP, part10_bytes, send_instances
from .timeouts import DEFAULT_TIMEOUTS, Timeouts
from .tls import (
    TLS_OUTCOMES,
    certificate_info,
    classify_ssl_error,
    client_context,
    fetch_certificate,
    peer_certificate_info,
    server_context,
)
from .trace import Trace, TraceEntry

__all__ = [
    "Association", "AssociationAborted", "AssociationError", "AssociationRejected", "AssociationTimeout",
    "FindQuery", "NoAcceptedContext", "PeerProtocolError", "Response", "RetrieveResult", "associate",
    "build_contexts", "build_roles", "retrieve_contexts",
    "Channel", "ChannelEvent",
    "CONNECT_OUTCOMES", "ConnectFailed", "Connected", "TLSHandshakeFailed", "connect", "probe_tcp", "resolve",
    "QR_MODELS", "SourceError", "StoreSource", "identifier", "load_source", "sop_class_for",
    "storage_sop_classes",
    "ArchiveSCP", "AssociationRecord", "ReceivedInstance", "Reply", "RetrieveStatus", "SCPBehaviour",
    "SCPContext", "SCPServer", "StorageSCP", "part10_bytes", "send_instances",
    "DEFAULT_TIMEOUTS", "Timeouts",
    "TLS_OUTCOMES", "certificate_info", "classify_ssl_error", "client_context", "fetch_certificate",
    "peer_certificate_info", "server_context",
    "Trace", "TraceEntry",
]
