"""net.connect: classified outcomes against loopback (refused, timeout, dns, open over IPv4 and IPv6)."""

from __future__ import annotations

import errno
import socket
import select

import pytest

from dicomdoctor.net import ConnectFailed, connect, probe_tcp
from dicomdoctor.net.connect import classify_os_error
from peers import arun, free_port


def test_refused_on_a_closed_port() -> None:
    port = free_port()
    with pytest.raises(ConnectFailed) as err:
        arun(connect("127.0.0.1", port, 2.0))
    assert err.value.outcome == "refused"
    assert err.value.errno == errno.ECONNREFUSED
    assert err.value.phase == "tcp"
    assert err.value.address == ("127.0.0.1", port)


def test_open_reports_connect_ms_and_closes() -> None:
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(4)
        facts = arun(probe_tcp("127.0.0.1", ls.getsockname()[1], 2.0))
        assert facts["outcome"] == "open"
        assert facts["connect_ms"] is not None and facts["connect_ms"] >= 0  # measured; how fast is not a test
        conn, _ = ls.accept()
        conn.settimeout(2)
        assert conn.recv(10) == b""  # the probe closed its connection at once (polite to one-thread PACS)
        conn.close()


def test_timeout_when_the_accept_backlog_is_full() -> None:
    # A listener that never accepts, with its backlog filled: further SYNs are dropped, as by a firewall.
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    held = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            held.append(s)
        # The first connection fills the backlog once it is established (writable): wait for that, not a clock.
        select.select([], held[:1], [], 30)
        facts = arun(probe_tcp("127.0.0.1", port, 0.5))
        assert facts["outcome"] == "timeout"  # ended by its own 0.5 s timeout; a hang is the pytest timeout's
    finally:
        for s in held:
            s.close()
        ls.close()


def test_dns_failure_is_classified() -> None:
    with pytest.raises(ConnectFailed) as err:
        arun(connect("no-such-host.invalid", 104, 3.0))
    assert err.value.outcome == "dns"
    assert err.value.phase == "dns"


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        ls = socket.socket(socket.AF_INET6)
        ls.bind(("::1", 0))
    except OSError:
        pytest.skip("::1 not available")
    with ls:
        ls.listen(4)
        port = ls.getsockname()[1]

        async def go() -> tuple[str, int]:
            c = await connect("[::1]", port, 2.0)
            c.abort()
            return c.address
        assert arun(go()) == ("::1", port)
    with pytest.raises(ConnectFailed) as err:
        arun(connect("::1", free_port("::1"), 2.0))
    assert err.value.outcome == "refused"


def test_os_error_classification() -> None:
    assert classify_os_error(ConnectionResetError()) == "reset"
    assert classify_os_error(ConnectionRefusedError()) == "refused"
    assert classify_os_error(TimeoutError()) == "timeout"
    assert classify_os_error(OSError(errno.EHOSTUNREACH, "no route")) == "unreachable"
    assert classify_os_error(OSError(errno.ENETUNREACH, "net unreachable")) == "unreachable"
