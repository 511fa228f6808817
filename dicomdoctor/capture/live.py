"""Record a session's packets to a pcap for a ticket (`--capture FILE`).

    with record("session.pcap", [("10.0.0.5", 104)]) as cap:
        ...run the checks...
    print(cap.path, cap.tool)

A capture tool runs as a subprocess on the interface that routes to the target (``lo`` for loopback, else
what ``ip route get`` says, else ``any``) with a BPF filter for exactly the target's host and TCP port(s), so
the file holds this session and nothing else from a busy host. The tools are tried in order: tcpdump,
dumpcap (Wireshark's capture engine, also used by tshark), tshark. They write classic pcap (``-P``/``-F``
pcap), which every ticket system's viewer opens.

Privileges: capturing needs root or CAP_NET_RAW/CAP_NET_ADMIN on the tool. When it is not permitted, or no
tool is installed, ``CaptureError`` says so and how to fix it; the CLI turns it into exit 3 *before* any
packet is sent (the user asked for a recording: running without one would defeat the purpose).

Why a subprocess and not scapy's AsyncSniffer: the tools write the file from their own process at C speed
and flush it on SIGINT, so a 100 MB C-STORE session is recorded completely without a Python thread copying
every packet.
"""

from __future__ import annotations

import ipaddress
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CaptureError", "LiveCapture", "record", "start", "stop", "interface_for", "bpf_filter", "capture_tool",
           "start_for_args", "stop_for_args"]

READY_TIMEOUT = 5.0    # seconds for the tool to start listening
LIVE_SETTLE = 0.5       # seconds to wait when liveness cannot be proven (not on loopback)
SETTLE = 0.3           # seconds to let the last packets (FIN/ACK) reach the tool before stopping it
STOP_TIMEOUT = 5.0
_TOOLS = ("tcpdump", "dumpcap", "tshark")
_SEARCH = ("/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin")
_READY = ("listening on", "capturing on")
_DENIED = ("permission", "not permitted", "you don't have", "are not allowed", "cap_net_raw", "must be root")


class CaptureError(Exception):
    """The capture could not start: no tool, no permission, bad interface. The message says what to do."""


@dataclass
class LiveCapture:
    path: str
    interface: str
    bpf: str
    tool: str
    argv: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    stderr: str = ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def capture_tool(preferred: str | None = None) -> str | None:
    """Absolute path of the first capture tool found (tcpdump, dumpcap, tshark)."""
    for name in ((preferred,) if preferred else _TOOLS):
        found = shutil.which(name)
        if found:
            return found
        for d in _SEARCH:  # sbin is often not in PATH for a normal user
            p = os.path.join(d, name)
            if os.access(p, os.X_OK):
                return p
    return None


def _address(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        try:
            return str(socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)[0][4][0])
        except OSError as exc:
            raise CaptureError(f"--capture: cannot resolve {host}: {exc}") from None


def interface_for(host: str) -> str:
    """``lo`` for loopback, the routing table's device for anything else, ``any`` when unknown."""
    addr = ipaddress.ip_address(_address(host))
    if addr.is_loopback:
        return "lo"
    try:
        out = subprocess.run(["ip", "route", "get", str(addr)], capture_output=True, text=True, timeout=3).stdout
    except (OSError, subprocess.SubprocessError):
        return "any"
    words = out.split()
    if "dev" in words and words.index("dev") + 1 < len(words):
        return words[words.index("dev") + 1]
    return "any"


def bpf_filter(endpoints: Sequence[tuple[str, int]], extra_ports: Sequence[int] = ()) -> str:
    """``host A and tcp port P`` per target, OR-ed; ``extra_ports`` (a C-MOVE listener) for every host."""
    parts = []
    for host, port in endpoints:
        ports = " or ".join(f"tcp port {p}" for p in (port, *extra_ports))
        parts.append(f"(host {_address(host)} and ({ports}))")
    return " or ".join(parts)


def _argv(tool: str, interface: str, bpf: str, path: str, pcapng: bool = False) -> list[str]:
    name = os.path.basename(tool)
    if name == "tcpdump":
        if pcapng:
            raise CaptureError("tcpdump writes pcap only; use dumpcap or tshark for pcapng")
        # -U: write each packet as it arrives (nothing lost if we are killed); -s 0: whole packets.
        return [tool, "-i", interface, "-s", "0", "-U", "-n", "-w", path, bpf]
    if name == "dumpcap":
        return [tool, "-i", interface, "-f", bpf, "-s", "0", *([] if pcapng else ["-P"]), "-w", path]
    return [tool, "-i", interface, "-f", bpf, "-s", "0", "-F", "pcapng" if pcapng else "pcap", "-w", path, "-q"]


def _advice(interface: str) -> str:
    return (f"--capture needs permission to capture packets on {interface}: run as root (sudo), or give the tool "
            f"the capability once: sudo setcap cap_net_raw,cap_net_admin=eip $(command -v dumpcap) (Debian: "
            f"dpkg-reconfigure wireshark-common and add yourself to the wireshark group)")


def start(path: str, endpoints: Sequence[tuple[str, int]], *, extra_ports: Sequence[int] = (),
          interface: str | None = None, tool: str | None = None, pcapng: bool = False) -> LiveCapture:
    """Start recording; returns once the tool listens. Raises ``CaptureError``."""
    if not endpoints:
        raise CaptureError("--capture: no target to capture")
    exe = capture_tool(tool)
    if exe is None:
        raise CaptureError("--capture needs tcpdump, dumpcap or tshark: install one (Debian/Ubuntu: apt-get install "
                           "tcpdump)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CaptureError(f"--capture {path}: the folder {folder} does not exist")
    iface = interface or interface_for(endpoints[0][0])
    bpf = bpf_filter(endpoints, extra_ports)
    canary = _canary_socket() if iface == "lo" else None
    if canary is not None:
        bpf = f"({bpf}) or (udp and host 127.0.0.1 and port {canary.getsockname()[1]})"
    argv = _argv(exe, iface, bpf, os.path.abspath(path), pcapng)
    cap = LiveCapture(path, iface, bpf, os.path.basename(exe), argv)
    try:
        cap.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise CaptureError(f"--capture: cannot run {exe}: {exc.strerror or exc}") from None
    try:
        _wait_ready(cap)
        _wait_live(cap, canary)
    finally:
        if canary is not None:
            canary.close()
    return cap


def _canary_socket() -> socket.socket | None:
    """A UDP socket on loopback whose own datagrams prove the capture is live (see `_wait_live`)."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        return sock
    except OSError:
        return None


def _wait_live(cap: LiveCapture, canary: socket.socket | None) -> None:
    """Return once packets are really being recorded.

    The tools say "listening"/"capturing" before the kernel delivers packets to them: measured here, dumpcap
    under load missed the first ~50 ms of a session, i.e. the whole A-ASSOCIATE exchange. On loopback we send
    datagrams to our own canary socket (they match the filter, stay on this machine, and show up in the
    ticket as a few UDP packets) until the tool counts one, or the file grows past its header. Elsewhere a
    short pause is the best we can do without sending anything towards the peer.
    """
    if canary is None or cap.proc is None or cap.proc.stderr is None:
        time.sleep(LIVE_SETTLE)
        return
    fd = cap.proc.stderr.fileno()
    port = canary.getsockname()[1]
    deadline = time.monotonic() + READY_TIMEOUT
    text = ""
    while time.monotonic() < deadline:
        try:
            canary.sendto(b"dicomdoctor capture canary", ("127.0.0.1", port))
        except OSError:
            pass
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            text += os.read(fd, 4096).decode(errors="replace")
            # dumpcap and tshark report "Packets: N" / "Packets captured: N" as they go.
            if any(int(n) > 0 for n in re.findall(r"Packets(?: captured)?: (\d+)", text)):
                return
        try:
            if os.path.getsize(cap.path) > 64:  # tcpdump -U writes each packet at once
                return
        except OSError:
            pass
    time.sleep(LIVE_SETTLE)


def _wait_ready(cap: LiveCapture) -> None:
    """Read the tool's stderr until it says it listens; fail with its words if it exits first."""
    proc = cap.proc
    assert proc is not None and proc.stderr is not None
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + READY_TIMEOUT
    text = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            stop(cap)
            raise CaptureError(f"--capture: {cap.tool} did not start listening on {cap.interface} within "
                               f"{READY_TIMEOUT:.0f} s: {text.decode(errors='replace').strip()[:300]}")
        ready, _, _ = select.select([fd], [], [], left)
        chunk = os.read(fd, 4096) if ready else b""
        if ready and not chunk:  # EOF: the tool exited
            proc.wait(STOP_TIMEOUT)
            msg = text.decode(errors="replace").strip()
            cap.stderr = msg
            if any(w in msg.lower() for w in _DENIED):
                raise CaptureError(_advice(cap.interface) + f" ({cap.tool}: {msg.splitlines()[-1][:200]})")
            raise CaptureError(f"--capture: {cap.tool} failed on {cap.interface}: {msg[:300] or 'no message'}")
        text += chunk
        if any(w in text.decode(errors="replace").lower() for w in _READY):
            cap.stderr = text.decode(errors="replace")
            return


def stop(cap: LiveCapture) -> None:
    """Stop the tool so it flushes the file (SIGINT, as Ctrl-C would), then make sure it is gone."""
    proc, cap.proc = cap.proc, None
    if proc is None:
        return
    if proc.poll() is None:
        time.sleep(SETTLE)  # the last ACK/FIN are still in flight through the kernel's capture buffer
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(STOP_TIMEOUT if sig != signal.SIGKILL else 2)
                break
            except subprocess.TimeoutExpired:
                continue
    if proc.stderr is not None:
        try:
            cap.stderr += proc.stderr.read().decode(errors="replace")
        except (OSError, ValueError):
            pass
        proc.stderr.close()


@contextmanager
def record(path: str, endpoints: Sequence[tuple[str, int]], *, extra_ports: Sequence[int] = (),
           interface: str | None = None, tool: str | None = None, pcapng: bool = False) -> Iterator[LiveCapture]:
    """Record while the block runs; the file is complete when the block exits (even on an exception)."""
    cap = start(path, endpoints, extra_ports=extra_ports, interface=interface, tool=tool, pcapng=pcapng)
    try:
        yield cap
    finally:
        stop(cap)


# --- the CLI's --capture (commands/_common.py calls these two) ---------------------------------------------

_ACTIVE: dict[int, LiveCapture] = {}


def start_for_args(args: Any, target: Any) -> LiveCapture | None:
    """Start recording for a command's ``--capture FILE`` (no-op without it, or if already started for these
    args). The filter covers the target's host and port, plus ``--listen`` (C-MOVE connect-back). A capture
    that cannot start is bad input (exit 3) before any packet is sent."""
    import atexit

    from ..errors import BadInput

    path = getattr(args, "capture", None)
    if not path or id(args) in _ACTIVE:
        return _ACTIVE.get(id(args))
    extra = [p for p in (getattr(args, "listen", None),) if isinstance(p, int) and p > 0]
    try:
        cap = start(str(path), [(target.host, target.port)], extra_ports=extra)
    except CaptureError as exc:
        raise BadInput(str(exc)) from None
    _ACTIVE[id(args)] = cap
    atexit.register(stop, cap)  # an exception between start and emit must not leave the tool running
    return cap


def stop_for_args(args: Any) -> LiveCapture | None:
    """Stop the recording started for these args (before the report is written); says where it went."""
    import sys

    cap = _ACTIVE.pop(id(args), None)
    if cap is None:
        return None
    stop(cap)
    size = os.path.getsize(cap.path) if os.path.exists(cap.path) else 0
    print(f"dicomdoctor: packets recorded to {cap.path} ({size} bytes, {cap.tool} on {cap.interface}); "
          f"analyse it with: dicomdoctor pcap {cap.path}", file=sys.stderr)
    return cap
