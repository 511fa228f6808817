"""Real DICOM peers for the tests: dcmtk (storescp, dcmqrscp), Orthanc, pynetdicom, PixelMed (Java), dcmjs-dimse
(Node.js, tests/peers_js), `dicomdoctor simulate` as a process, plus test certificates.

Every peer listens on a free loopback port, is started with a bounded wait until its port accepts, logs to a
file in the test's tmp dir (shown when it fails to start) and is killed on teardown (its whole process group:
dcmqrscp forks per association). dcmtk tools are called by absolute path because pynetdicom installs Python
scripts with the same names earlier in PATH.

Use through the fixtures in `conftest.py` (`orthanc`, `storescp`, `dcmqrscp`, `pynetdicom_scp`, `certs`,
`free_port`, `ct_files`), or directly (`with start_storescp(tmp) as peer: ...`).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import os
import signal
import socket
import subprocess
import threading
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

STORESCP = "/usr/bin/storescp"
STORESCU = "/usr/bin/storescu"
DCMQRSCP = "/usr/bin/dcmqrscp"
ECHOSCU = "/usr/bin/echoscu"
FINDSCU = "/usr/bin/findscu"
MOVESCU = "/usr/bin/movescu"
GETSCU = "/usr/bin/getscu"
ORTHANC = "/usr/sbin/Orthanc"
ORTHANC_WORKLIST_PLUGIN = "/usr/share/orthanc/plugins/libModalityWorklists.so"
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 20.0  # seconds for a peer to open its port; Orthanc takes ~1 s, dcmtk a few ms


class Factory:
    """A fixture's peer starter: `f(*args, **kw)` starts one (`start`) and returns it, or what `view` makes of
    it (the simulator's target text); `stop_all()` at teardown stops every one started, newest first."""

    def __init__(self, start: Callable[..., Any], view: Callable[[Any], Any] | None = None) -> None:
        self._start = start
        self._view = view
        self.started: list[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        peer = self._start(*args, **kwargs)
        self.started.append(peer)
        return self._view(peer) if self._view else peer

    def stop_all(self) -> None:
        for peer in reversed(self.started):
            try:
                peer.stop()
            except Exception:
                pass


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on right now (bind port 0, read it back, close). Racy by nature, but loopback
    ports are plentiful and the peers are started at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = START_TIMEOUT, proc: subprocess.Popen | None = None,
              log: Path | None = None) -> None:
    """Wait until `host:port` accepts a TCP connection (closed at once: Orthanc serves one client at a time, a
    lingering probe would block it). Raise with the peer's log tail when it exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"peer exited with {proc.returncode} before opening port {port}\n{_tail(log)}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing accepted on {host}:{port} within {timeout:.0f} s\n{_tail(log)}")
        time.sleep(0.05)


def _tail(log: Path | None, n: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    lines = log.read_text(errors="replace").splitlines()[-n:]
    return "--- peer log (tail) ---\n" + "\n".join(lines)


# ---------------------------------------------------------------------------------------------- processes


@dataclass
class Peer:
    """A running peer process: where it listens, its AE title, its log and working dir."""

    name: str
    ae_title: str
    host: str
    port: int
    workdir: Path
    log: Path
    proc: subprocess.Popen | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    graceful: bool = True  # False: SIGKILL at once (Orthanc takes ~3.5 s to stop and its tmp data is throwaway)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def target_text(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after 3 s. Idempotent."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            steps = ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)) if self.graceful else ((signal.SIGKILL, 3.0),)
            for sig, wait in steps:
                try:
                    os.killpg(proc.pid, sig)  # our own group: start_new_session=True below
                except ProcessLookupError:
                    break
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        else:
            # The leader exited; children it forked (dcmqrscp) may still hold the group.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(1.0)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self) -> "Peer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spawn(name: str, argv: Sequence[str], workdir: Path, *, host: str, port: int, ae_title: str,
           wait: bool = True, timeout: float = START_TIMEOUT, env: dict[str, str] | None = None) -> Peer:
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    fh = open(log, "ab")
    try:
        proc = subprocess.Popen(list(argv), cwd=workdir, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    finally:
        fh.close()
    peer = Peer(name=name, ae_title=ae_title, host=host, port=port, workdir=workdir, log=log, proc=proc)
    if wait:
        try:
            wait_port(host, port, timeout, proc, log)
        except BaseException:
            peer.stop()
            raise
    return peer


def _unique_dir(base: Path, name: str) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        d = base / (name if i == 0 else f"{name}-{i}")
        try:
            d.mkdir()
            return d
        except FileExistsError:
            continue
    raise RuntimeError("no free directory name")


# -------------------------------------------------------------------------------------------- dcmtk peers


def start_storescp(base: Path, *flags: str, ae_title: str = "STORESCP", port: int | None = None,
                   out_dir: Path | None = None, debug: bool = False) -> Peer:
    """/usr/bin/storescp on loopback. `flags` are storescp options, e.g. "--ignore", "--max-pdu", "16384",
    "--abort-after", "--sleep-during", "3", "--refuse", "--reject". Without --ignore it writes into `out_dir`
    (default: <workdir>/out, available as `peer.extra["out_dir"]`)."""
    workdir = _unique_dir(base, "storescp")
    port = port or free_port()
    argv = [STORESCP, "-aet", ae_title]
    if "--ignore" not in flags:
        out = out_dir or workdir / "out"
        out.mkdir(parents=True, exist_ok=True)
        argv += ["--output-directory", str(out)]
    else:
        out = None
    argv += ["-d"] if debug else ["-v"]
    argv += [*flags, str(port)]
    peer = _spawn("storescp", argv, workdir, host=LOOPBACK, port=port, ae_title=ae_title)
    peer.extra["out_dir"] = out
    peer.extra["argv"] = argv
    return peer


def start_dcmqrscp(base: Path, *, ae_title: str = "QRSCP", port: int | None = None,
                   hosts: dict[str, tuple[str, int]] | None = None, preload: Iterable[Path | str] = (),
                   max_pdu: int = 16384, extra_args: Sequence[str] = ()) -> Peer:
    """/usr/bin/dcmqrscp with a generated dcmqrscp.cfg: one storage area for `ae_title` (RW, any peer),
    `hosts` = move destinations {AE: (host, port)} (the HostTable), and `preload` instances stored into it
    with /usr/bin/storescu before the peer is returned. It forks per association; teardown kills the group."""
    workdir = _unique_dir(base, "dcmqrscp")
    port = port or free_port()
    db = workdir / "db" / ae_title
    db.mkdir(parents=True)
    lines = [f"NetworkTCPPort  = {port}", f"MaxPDUSize      = {max_pdu}", "MaxAssociations = 16", "",
             "HostTable BEGIN"]
    for i, (ae, (h, p)) in enumerate((hosts or {}).items()):
        lines.append(f"peer{i} = ({ae}, {h}, {p})")
    lines += ["HostTable END", "", "VendorTable BEGIN", "VendorTable END", "", "AETable BEGIN",
              f"{ae_title} {db} RW (200, 1024mb) ANY", "AETable END", ""]
    cfg = workdir / "dcmqrscp.cfg"
    cfg.write_text("\n".join(lines))
    # Fork mode (the default): dcmqrscp 3.6.7 in single-process mode (-s) crashes after the first association.
    argv = [DCMQRSCP, "-c", str(cfg), "-dhl", "-v", *extra_args, str(port)]
    peer = _spawn("dcmqrscp", argv, workdir, host=LOOPBACK, port=port, ae_title=ae_title)
    peer.extra.update(config=cfg, db=db, argv=argv)
    files = [str(p) for p in preload]
    if files:
        try:
            storescu(peer, files)
        except BaseException:
            peer.stop()
            raise
    return peer


def storescu(peer: Peer, files: Sequence[Path | str], *, calling_ae: str = "STORESCU",
             extra_args: Sequence[str] = (), timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Send files to a peer with /usr/bin/storescu over one association; raise on a non-zero exit."""
    argv = [STORESCU, "-aet", calling_ae, "-aec", peer.ae_title, *extra_args, peer.host, str(peer.port),
            *map(str, files)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"storescu failed ({res.returncode}): {res.stdout}\n{res.stderr}")
    return res


def run_dcmtk(tool: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run a dcmtk tool (absolute path) with text output; never raises on the exit code."""
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------------------------------------ Orthanc


@dataclass
class OrthancPeer(Peer):
    http_port: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def rest(self, method: str, path: str, body: bytes | None = None, timeout: float = 10.0) -> Any:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/dicom")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            data = r.read()
        try:
            return json.loads(data)
        except ValueError:
            return data

    def upload(self, files: Iterable[Path | str | bytes]) -> list[str]:
        """Preload instances through the REST API (no DICOM association used). Returns Orthanc ids."""
        ids = []
        for f in files:
            data = f if isinstance(f, bytes) else Path(f).read_bytes()
            ids.append(self.rest("POST", "/instances", data)["ID"])
        return ids

    def instances(self) -> list[str]:
        return list(self.rest("GET", "/instances"))


def start_orthanc(base: Path, *, ae_title: str = "ORTHANC", tls: "CertPair | None" = None,
                  tls_trusted: Sequence[Path | str] = (), tls_client_required: bool = False,
                  modalities: dict[str, Any] | None = None, preload: Iterable[Path | str | bytes] = (),
                  **overrides: Any) -> OrthancPeer:
    """/usr/sbin/Orthanc on free loopback ports (DICOM + HTTP for preloading), storage in a tmp dir, no plugins.

    `overrides` are Orthanc 1.10 options, e.g. DicomCheckCalledAet=True, DicomAlwaysAllowFind=True,
    DicomAlwaysAllowMove=True, DicomAlwaysAllowGet=True, DicomAlwaysAllowEcho=False, DicomAlwaysAllowStore=False,
    AcceptedTransferSyntaxes=[...], UnknownSopClassAccepted=True, DicomScpTimeout=5.
    `modalities` = DicomModalities, e.g. {"dest": ["DEST", "127.0.0.1", 11113]} (C-MOVE destinations and
    known SCUs). `tls` = the server certificate -> DicomTlsEnabled with DicomTlsCertificate/PrivateKey;
    `tls_trusted` = DicomTlsTrustedCertificates (Orthanc needs the file; the CA by default);
    `tls_client_required` = DicomTlsRemoteCertificateRequired.
    """
    workdir = _unique_dir(base, "orthanc")
    dicom_port, http_port = free_port(), free_port()
    storage = workdir / "db"
    storage.mkdir()
    cfg: dict[str, Any] = {
        "Name": "dicomdoctor-test", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
        "Plugins": [], "HttpServerEnabled": True, "HttpPort": http_port, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomServerEnabled": True, "DicomAet": ae_title,
        "DicomPort": dicom_port, "DicomCheckCalledAet": False, "DicomModalities": modalities or {},
        "ConcurrentJobs": 1, "SaveJobs": False, "DicomScpTimeout": 10, "DicomScuTimeout": 10,
        "StorageCompression": False, "HttpTimeout": 10,
    }
    if tls is not None:
        trusted = list(tls_trusted) or ([tls.ca_cert] if tls.ca_cert else [tls.cert])
        bundle = workdir / "trusted.pem"
        bundle.write_bytes(b"".join(Path(p).read_bytes() for p in trusted))
        cfg.update(DicomTlsEnabled=True, DicomTlsCertificate=str(tls.cert), DicomTlsPrivateKey=str(tls.key),
                   DicomTlsTrustedCertificates=str(bundle),
                   DicomTlsRemoteCertificateRequired=tls_client_required)
    cfg.update(overrides)
    (workdir / "orthanc.json").write_text(json.dumps(cfg, indent=2))
    argv = [ORTHANC, "--verbose", str(workdir / "orthanc.json")]
    peer = _spawn("orthanc", argv, workdir, host=LOOPBACK, port=dicom_port, ae_title=ae_title, wait=False)
    opeer = OrthancPeer(name=peer.name, ae_title=ae_title, host=LOOPBACK, port=dicom_port, workdir=workdir,
                        log=peer.log, proc=peer.proc, extra={"config": cfg}, graceful=False,
                        http_port=http_port)
    try:
        # HTTP last: Orthanc opens it after the DICOM server, so both are up when it answers.
        wait_port(LOOPBACK, dicom_port, START_TIMEOUT, opeer.proc, opeer.log)
        wait_port(LOOPBACK, http_port, START_TIMEOUT, opeer.proc, opeer.log)
        items = list(preload)
        if items:
            opeer.upload(items)
    except BaseException:
        opeer.stop()
        raise
    return opeer


def orthanc_worklist(folder: Path | str, **options: Any) -> dict[str, Any]:
    """start_orthanc overrides enabling the ModalityWorklists sample plugin on the .wl files of `folder`
    (`options`: its other settings, e.g. FilterIssuerAet=True, LimitAnswers=N)."""
    return {"Plugins": [ORTHANC_WORKLIST_PLUGIN],
            "Worklists": {"Enable": True, "Database": str(folder), **options}}


# ------------------------------------------------------------------------------------------ pynetdicom SCP


@dataclass
class PynetdicomSCP:
    """A pynetdicom AE serving on a thread. `received` holds the datasets it got by C-STORE; C-FIND answers
    from them (plus `datasets`) by exact match on the non-empty keys of the identifier."""

    ae_title: str
    host: str
    port: int
    server: Any
    received: list[Any] = field(default_factory=list)
    datasets: list[Any] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def target_text(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()

    def __enter__(self) -> "PynetdicomSCP":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_pynetdicom_scp(*, ae_title: str = "PYNETDICOM", port: int | None = None, max_pdu: int = 16384,
                         handlers: Sequence[tuple[Any, Callable]] = (), store_status: int = 0x0000,
                         echo_status: int = 0x0000, require_called_aet: bool = False,
                         datasets: Sequence[Any] = ()) -> PynetdicomSCP:
    """pynetdicom SCP for Verification, all Storage classes and Q/R Find (patient + study root)."""
    from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
    from pynetdicom.sop_class import (PatientRootQueryRetrieveInformationModelFind,
                                      StudyRootQueryRetrieveInformationModelFind, Verification)

    port = port or free_port()
    ae = AE(ae_title=ae_title)
    ae.maximum_pdu_size = max_pdu
    ae.require_called_aet = require_called_aet
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES, scp_role=True, scu_role=True)
    ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(PatientRootQueryRetrieveInformationModelFind, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind, ALL_TRANSFER_SYNTAXES)
    scp = PynetdicomSCP(ae_title=ae_title, host=LOOPBACK, port=port, server=None, datasets=list(datasets))

    def on_echo(event: Any) -> int:
        scp.events.append("C-ECHO")
        return echo_status

    def on_store(event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        scp.received.append(ds)
        scp.events.append("C-STORE")
        return store_status

    def on_find(event: Any) -> Any:
        scp.events.append("C-FIND")
        ident = event.identifier
        keys = {e.keyword: e.value for e in ident if e.keyword and e.keyword != "QueryRetrieveLevel" and e.value}
        for ds in [*scp.datasets, *scp.received]:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            if all(str(getattr(ds, k, None)) == str(v) for k, v in keys.items()):
                from pydicom import Dataset
                out = Dataset()
                for e in ident:
                    if e.keyword:
                        setattr(out, e.keyword, getattr(ds, e.keyword, e.value))
                yield 0xFF00, out
        yield 0x0000, None

    evt_handlers = [(evt.EVT_C_ECHO, on_echo), (evt.EVT_C_STORE, on_store), (evt.EVT_C_FIND, on_find),
                    *handlers]
    scp.server = ae.start_server((LOOPBACK, port), block=False, evt_handlers=evt_handlers)
    return scp


# ------------------------------------------------------------- independent toolkits: PixelMed, dcmjs-dimse
# Neither shares code with dcmtk, pynetdicom or Orthanc: they catch assumptions those three share.

JAVA = "/usr/bin/java"
PIXELMED_JAR = "/usr/share/java/pixelmed.jar"  # Debian pixelmed-apps / libpixelmed-java
NODE = "/usr/bin/node"
PEERS_JS = Path(__file__).resolve().parent / "peers_js"  # package.json + scp.js/scu.js; npm ci installs it
JAVA_START_TIMEOUT = 60.0  # a JVM on a loaded 2-core machine takes seconds to open its port


def pixelmed_available() -> bool:
    return os.access(JAVA, os.X_OK) and os.path.exists(PIXELMED_JAR)


def dcmjs_available() -> bool:
    return os.access(NODE, os.X_OK) and (PEERS_JS / "node_modules" / "dcmjs-dimse").is_dir()


def start_pixelmed_scp(base: Path, *, ae_title: str = "PIXELMED", port: int | None = None,
                       policy: str = "UNENCAPSULATED") -> Peer:
    """PixelMed's StorageSOPClassSCPDispatcher (its storage + verification SCP), storing into
    `peer.extra["out_dir"]`. It rejects a called AE title other than its own (1/1/7) and accepts any calling
    AE. `policy` "UNENCAPSULATED" accepts the storage classes it knows with uncompressed transfer syntaxes only;
    "ANY" also accepts compressed ones. It listens on every interface (no bind-address option): the tests
    only ever connect to it on loopback."""
    workdir = _unique_dir(base, "pixelmed")
    port = port or free_port()
    out = workdir / "out"
    out.mkdir()
    # main(port, AE, folder, SECURE|NONSECURE, ANY|other): the 5-argument form picks the context policy.
    argv = [JAVA, "-Djava.awt.headless=true", "-cp", PIXELMED_JAR, "com.pixelmed.network.StorageSOPClassSCPDispatcher",
            str(port), ae_title, str(out), "NONSECURE", policy]
    peer = _spawn("pixelmed", argv, workdir, host=LOOPBACK, port=port, ae_title=ae_title,
                  timeout=JAVA_START_TIMEOUT, env=dict(os.environ, HOME=str(workdir)))
    peer.extra.update(out_dir=out, argv=argv)
    return peer


def run_pixelmed(tool_class: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run a PixelMed command-line class, e.g. ("com.pixelmed.network.VerificationSOPClassSCU", host, port,
    called AE, calling AE, "NONSECURE"). Its SCUs exit 0 whatever happens: read their output."""
    return subprocess.run([JAVA, "-Djava.awt.headless=true", "-cp", PIXELMED_JAR, tool_class, *args],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def start_dcmjs_scp(base: Path, *, ae_title: str = "DCMJS", port: int | None = None, **behaviour: Any) -> Peer:
    """tests/peers_js/scp.js, a dcmjs-dimse SCP on loopback. `behaviour` is its JSON (see the script's head):
    check_called_ae, calling_ae_allow, calling_ae_reject, reject=[result, source, reason], sop_classes,
    transfer_syntaxes={uid|"*": [ts]}, ts_refusal_result=4|3, abort="after-accept"|"on-request",
    echo_status, store_status. `peer.events()` reads back what it saw (JSON lines of its log)."""
    workdir = _unique_dir(base, "dcmjs")
    port = port or free_port()
    cfg = workdir / "scp.json"
    cfg.write_text(json.dumps({"port": port, "host": LOOPBACK, "ae_title": ae_title, **behaviour}))
    argv = [NODE, str(PEERS_JS / "scp.js"), str(cfg)]
    peer = _spawn("dcmjs", argv, workdir, host=LOOPBACK, port=port, ae_title=ae_title)
    peer.extra.update(config=cfg, argv=argv)
    return peer


def js_events(peer: Peer) -> list[dict[str, Any]]:
    """The JSON event lines a peers_js script logged ({"event": ...}); other log lines are skipped."""
    out = []
    for line in peer.log_text().splitlines():
        if line.startswith('{"event"'):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def run_dcmjs_scu(host: str, port: int, called_ae: str, *, calling_ae: str = "DCMJSSCU", echo: bool = True,
                  files: Sequence[Path | str] = (), timeout: float = 60.0) -> dict[str, Any]:
    """tests/peers_js/scu.js: one association of C-ECHO and/or C-STOREs with dcmjs-dimse's Client. Returns its
    JSON summary: {"echo": status|None, "stores": [status...], "errors": [...], "rejected": {...}|None}."""
    spec = {"host": host, "port": port, "calling_ae": calling_ae, "called_ae": called_ae, "echo": echo,
            "files": [str(f) for f in files]}
    res = subprocess.run([NODE, str(PEERS_JS / "scu.js"), json.dumps(spec)], capture_output=True, text=True,
                         timeout=timeout, stdin=subprocess.DEVNULL)
    for line in reversed(res.stdout.splitlines()):
        if line.startswith('{"summary"'):
            return dict(json.loads(line)["summary"])
    raise RuntimeError(f"scu.js printed no summary (exit {res.returncode}):\n{res.stdout}\n{res.stderr}")


def start_simulate(base: Path, *faults: str, ae_title: str = "SIMULATOR", storage: Path | None = None,
                   timeout: float = START_TIMEOUT) -> Peer:
    """`dicomdoctor simulate` as its own process on a free loopback port (the port is read from its first
    line, so no port race); `storage` keeps what it receives as files (`peer.extra["storage"]`)."""
    workdir = _unique_dir(base, "simulate")
    argv = [sys.executable, "-m", "dicomdoctor", "simulate", "--port", "0", "--aet", ae_title]
    for f in faults:
        argv += ["--fault", f]
    if storage is not None:
        argv += ["--storage", str(storage)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    peer = Peer(name="simulate", ae_title=ae_title, host=LOOPBACK, port=0, workdir=workdir,
                log=workdir / "simulate.log", proc=proc)
    first: list[str] = []
    ready = threading.Event()

    def drain() -> None:  # copies its output to the log for as long as it runs (a full pipe would stall it)
        assert proc.stdout is not None
        with open(peer.log, "ab") as fh:
            for raw in proc.stdout:
                fh.write(raw)
                fh.flush()
                if not first:
                    first.append(raw.decode(errors="replace"))
                    ready.set()
        ready.set()

    threading.Thread(target=drain, name="simulate log", daemon=True).start()
    try:
        if not ready.wait(timeout):
            raise TimeoutError(f"dicomdoctor simulate printed no listening line within {timeout:.0f} s")
        text = first[0] if first else ""
        if "listening on 127.0.0.1:" not in text:
            raise RuntimeError(f"dicomdoctor simulate did not start: {text}{_tail(peer.log)}")
        peer.port = int(text.split("127.0.0.1:")[1].split()[0])
    except BaseException:
        peer.stop()
        raise
    peer.extra.update(storage=storage, argv=argv)
    return peer


# ------------------------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path
    ca_cert: Path | None  # the issuing CA's certificate (None when self-signed)


class CertFactory:
    """Test PKI made with `cryptography`: one CA per factory, and leaf certificates signed by it.

    `server()` has SAN DNS:localhost + IP:127.0.0.1 (+ ::1); `expired()`, `not_yet_valid()`, `wrong_name()`
    (SAN for other.invalid only), `self_signed()`, `client()` (clientAuth EKU), `other_ca()` (a second CA, to
    build "unknown CA" cases). Files are PEM; keys unencrypted.
    """

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ca: tuple[Any, Any, Path] | None = None
        self._n = 0

    # --- building blocks
    @staticmethod
    def _key() -> Any:
        from cryptography.hazmat.primitives.asymmetric import rsa
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def _write(self, stem: str, cert: Any, key: Any) -> tuple[Path, Path]:
        from cryptography.hazmat.primitives import serialization
        cp, kp = self.dir / f"{stem}.crt", self.dir / f"{stem}.key"
        cp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        kp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption()))
        return cp, kp

    def _build(self, cn: str, key: Any, *, issuer_cert: Any = None, issuer_key: Any = None, is_ca: bool = False,
               dns: Sequence[str] = (), ips: Sequence[str] = (), not_before: _dt.datetime | None = None,
               not_after: _dt.datetime | None = None, client: bool = False) -> Any:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = _dt.datetime.now(_dt.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dicomdoctor tests"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        b = (x509.CertificateBuilder().subject_name(name)
             .issuer_name(issuer_cert.subject if issuer_cert is not None else name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(not_before or now - _dt.timedelta(days=1))
             .not_valid_after(not_after or now + _dt.timedelta(days=365)))
        b = b.add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        if issuer_cert is not None:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                critical=False)
        if is_ca:
            b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                                              key_cert_sign=True, crl_sign=True, encipher_only=False,
                                              decipher_only=False), critical=True)
        else:
            b = b.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH] if client else
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return b.sign(issuer_key if issuer_key is not None else key, hashes.SHA256())

    # --- the CA
    def _ensure_ca(self) -> tuple[Any, Any, Path]:
        if self._ca is None:
            key = self._key()
            cert = self._build("dicomdoctor test CA", key, is_ca=True)
            cp, _ = self._write("ca", cert, key)
            self._ca = (cert, key, cp)
        return self._ca

    @property
    def ca_cert(self) -> Path:
        return self._ensure_ca()[2]

    def leaf(self, stem: str, *, cn: str = "localhost", dns: Sequence[str] = ("localhost",),
             ips: Sequence[str] = ("127.0.0.1", "::1"), not_before: _dt.datetime | None = None,
             not_after: _dt.datetime | None = None, client: bool = False) -> CertPair:
        ca_cert, ca_key, ca_path = self._ensure_ca()
        key = self._key()
        cert = self._build(cn, key, issuer_cert=ca_cert, issuer_key=ca_key, dns=dns, ips=ips,
                           not_before=not_before, not_after=not_after, client=client)
        cp, kp = self._write(stem, cert, key)
        return CertPair(cp, kp, ca_path)

    # --- the usual cases
    def server(self, stem: str = "server") -> CertPair:
        return self.leaf(stem)

    def expired(self, stem: str = "expired") -> CertPair:
        now = _dt.datetime.now(_dt.timezone.utc)
        return self.leaf(stem, not_before=now - _dt.timedelta(days=30), not_after=now - _dt.timedelta(days=1))

    def not_yet_valid(self, stem: str = "future") -> CertPair:
        now = _dt.datetime.now(_dt.timezone.utc)
        return self.leaf(stem, not_before=now + _dt.timedelta(days=10), not_after=now + _dt.timedelta(days=400))

    def wrong_name(self, stem: str = "wrongname") -> CertPair:
        return self.leaf(stem, cn="other.invalid", dns=("other.invalid",), ips=("192.0.2.1",))

    def client(self, stem: str = "client") -> CertPair:
        return self.leaf(stem, cn="DICOMDOCTOR", dns=(), ips=(), client=True)

    def self_signed(self, stem: str = "selfsigned") -> CertPair:
        key = self._key()
        cert = self._build("localhost", key, dns=("localhost",), ips=("127.0.0.1", "::1"))
        cp, kp = self._write(stem, cert, key)
        return CertPair(cp, kp, None)

    def other_ca(self, directory_name: str = "other-ca") -> "CertFactory":
        return CertFactory(self.dir / directory_name)


# ------------------------------------------------------------------------------------------- test datasets


def make_ct(*, patient_id: str = "DDTEST01", patient_name: str = "TEST^DOCTOR", study_uid: str | None = None,
            series_uid: str | None = None, instance_number: int = 1, rows: int = 64, columns: int = 64,
            transfer_syntax: str = "1.2.840.10008.1.2.1") -> Any:
    """A small synthetic CT instance (pydicom Dataset with file_meta), no real patient data."""
    from array import array

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, PYDICOM_IMPLEMENTATION_UID, generate_uid

    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID, ds.PatientName = patient_id, patient_name
    ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, instance_number
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20260101", "120000", "ACC1"
    ds.Modality, ds.StudyDescription = "CT", "dicomdoctor test"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    pixels = array("H", (i % 4096 for i in range(rows * columns)))  # unsigned 16-bit, no numpy needed
    if pixels.itemsize != 2 or sys.byteorder != "little":
        raise RuntimeError("ct_dataset assumes a little-endian machine with 16-bit unsigned shorts")
    ds.PixelData = pixels.tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    return ds


def write_cts(directory: Path, n: int = 3, **kw: Any) -> list[Path]:
    """`n` instances of one series written as Part-10 files; returns their paths."""
    from pydicom.uid import generate_uid
    directory.mkdir(parents=True, exist_ok=True)
    study, series = kw.pop("study_uid", None) or generate_uid(), kw.pop("series_uid", None) or generate_uid()
    paths = []
    for i in range(n):
        ds = make_ct(study_uid=study, series_uid=series, instance_number=i + 1, **kw)
        p = directory / f"ct{i + 1:03d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths


class ThreadedTLSServer:
    """A plain TLS echo-less server on a thread, for handshake tests: accepts, handshakes, reads until EOF."""

    def __init__(self, ssl_context: Any, host: str = LOOPBACK) -> None:
        self.ctx = ssl_context
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(5)
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    while tls.recv(4096):
                        pass
            except Exception as exc:  # handshake failures are the point of these tests
                self.errors.append(repr(exc))
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._t.join(2)
        self.sock.close()

    def __enter__(self) -> "ThreadedTLSServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def arun(coro: Any, timeout: float = 60.0) -> Any:
    """Run a coroutine in a fresh event loop with an overall time limit (no pytest-asyncio needed)."""
    import asyncio

    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


class DoctorRun:
    """One `dicomdoctor ... --format json` run: exit code, the JSON report, findings by check id."""

    def __init__(self, rc: int, report: dict[str, Any]) -> None:
        self.rc = rc
        self.report = report
        self.findings = {f["check"]: f for f in report["findings"]}

    def __getitem__(self, check: str) -> dict[str, Any]:
        return self.findings[check]

    def causes(self, check: str) -> list[str]:
        return [c["id"] for c in self.findings[check]["causes"]]

    def status(self, check: str) -> str:
        return str(self.findings[check]["status"])

    def product(self) -> str | None:
        ev = self.findings["peer.identity"]["evidence"]
        guess = ev.get("product") or {}
        return guess.get("product") if isinstance(guess, dict) else guess

    def __repr__(self) -> str:
        lines = [f"rc={self.rc} verdict={self.report['verdict']}"]
        for f in self.report["findings"]:
            lines.append(f"  {f['check']} {f['status']} {[c['id'] for c in f['causes']]}: {f['summary']}")
        return "\n".join(lines)
