"""Shared fixtures: real peers on free loopback ports (see peers.py), torn down after each test.

Factories return a started peer; everything a factory started is killed at teardown even when the test fails.
    def test_x(storescp, orthanc, dcmqrscp, pynetdicom_scp, certs, free_port, ct_files): ...
        peer = storescp("--ignore")                      # peer.host, peer.port, peer.ae_title, peer.log_text()
        pacs = orthanc(DicomAlwaysAllowFind=True, preload=ct_files)
        qr = dcmqrscp(hosts={"DEST": ("127.0.0.1", port)}, preload=ct_files)
        pn = pynetdicom_scp()                            # pn.received: datasets it stored
        cert = certs.server()                            # CertPair(cert, key, ca_cert)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # `import peers` from any test directory

import peers  # noqa: E402


def _need(path: str) -> None:
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not installed")


@pytest.fixture
def free_port() -> Callable[..., int]:
    """`free_port()` -> a free loopback TCP port (call it as often as needed)."""
    return peers.free_port


@pytest.fixture
def certs(tmp_path: Path) -> peers.CertFactory:
    return peers.CertFactory(tmp_path / "certs")


@pytest.fixture(scope="session")
def session_certs(tmp_path_factory: pytest.TempPathFactory) -> peers.CertFactory:
    """One PKI for the whole run (RSA key generation costs ~0.1 s per key)."""
    return peers.CertFactory(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def ct_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three small CT instances of one series (explicit VR LE, PatientID DDTEST01), as Part-10 files."""
    return peers.write_cts(tmp_path_factory.mktemp("ct"), 3)


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[Callable[..., peers.Peer]]:
    """`storescp(*flags, ae_title="STORESCP", port=None, out_dir=None)` -> Peer (/usr/bin/storescp)."""
    _need(peers.STORESCP)
    f = peers.Factory(lambda *a, **k: peers.start_storescp(tmp_path / "peers", *a, **k))
    yield f
    f.stop_all()


@pytest.fixture
def dcmqrscp(tmp_path: Path) -> Iterator[Callable[..., peers.Peer]]:
    """`dcmqrscp(ae_title="QRSCP", hosts={AE: (host, port)}, preload=[files], extra_args=())` -> Peer."""
    _need(peers.DCMQRSCP)
    f = peers.Factory(lambda **k: peers.start_dcmqrscp(tmp_path / "peers", **k))
    yield f
    f.stop_all()


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Callable[..., peers.OrthancPeer]]:
    """`orthanc(ae_title="ORTHANC", tls=CertPair, tls_trusted=[...], tls_client_required=False,
    modalities={...}, preload=[files], **orthanc_options)` -> OrthancPeer (also .http_port, .upload())."""
    _need(peers.ORTHANC)
    f = peers.Factory(lambda **k: peers.start_orthanc(tmp_path / "peers", **k))
    yield f
    f.stop_all()


@pytest.fixture
def pynetdicom_scp() -> Iterator[Callable[..., peers.PynetdicomSCP]]:
    """`pynetdicom_scp(ae_title="PYNETDICOM", max_pdu=16384, handlers=(), store_status=0, ...)`."""
    pytest.importorskip("pynetdicom")
    f = peers.Factory(lambda **k: peers.start_pynetdicom_scp(**k))
    yield f
    f.stop_all()
