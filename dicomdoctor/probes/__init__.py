"""probes layer: network actions that gather facts (typed evidence). They never judge (DESIGN.md).

- `tcp`: DNS resolution and the TCP connect outcome.
- `firstbytes`: what the first bytes after an A-ASSOCIATE-RQ say is on the port.
- `association`: one raw association attempt (AC/RJ/abort, contexts, max PDU, implementation items).
- `ae`: AE-title learning after a rejection (bounded, sequential).
- `contexts`: the SOP class x transfer syntax capability matrix (<= 128 contexts per association).
- `tls`: the TLS handshake outcome, session and certificate; plain-vs-TLS confirmation.
- `dimse`: C-ECHO / C-STORE / C-FIND as facts, and `run_service` (associate, act, release; failures as facts).
- `retrieve`: C-MOVE (our Storage SCP as destination, connect-back, random-AE and C-FIND follow-ups) and
  C-GET (SCP role selection), unique-key rules, sampling one instance by C-FIND.
- `throughput`: C-STORE MB/s per PDU length with synthetic instances; a raw-TCP loopback baseline.
- `capacity`: simultaneous associations accepted, how the next is refused; every one released.
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
