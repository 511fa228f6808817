"""probes layer: network actions that gather facts (typed evidence). They never judge (DESIGN.md).

- `tcp`: DNS resolution and the TCP connect outcome.
- `firstbytes`: what the first bytes after an A-ASSOCIATE-RQ say is on the port.
- `association`: one raw association attempt (AC/RJ/abort, contexts, max PDU, implementation items).
- `ae`: AE-title learning after a rejection (bounded, sequential).
- `contexts`: the SOP class x transfer syntax capability matrix (<= 128 contexts per association).
- `tls`: the TLS handshake outcome, session and certificate; plain-vs-TLS confirmation.
- `dimse`: C-ECHO / C-STORE / C-FIND / C-MOVE / C-GET as facts.
"""

from .ae import AEFacts, learn_ae_titles
from .association import AssociationFacts, ContextProposal, ContextResult, probe_association
from .contexts import MatrixFacts, probe_matrix, resolve_uid
from .firstbytes import FirstBytes, Kind, classify
from .tcp import ConnectFacts, DNSFacts, resolve, tcp_connect

__all__ = [
    "AEFacts", "learn_ae_titles", "AssociationFacts", "ContextProposal", "ContextResult", "probe_association",
    "MatrixFacts", "probe_matrix", "resolve_uid", "FirstBytes", "Kind", "classify", "ConnectFacts", "DNSFacts",
    "resolve", "tcp_connect",
]
