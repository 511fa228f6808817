"""Real error texts, by the tool that prints them, and the cause that must rank first.

Sources: dcmtk 3.6.7 echoscu/storescu/movescu output and Orthanc 1.10.1 log lines recorded on loopback;
pynetdicom 3.0 log messages (pynetdicom/transport.py, acse.py, association.py, pdu.py); dcm4che 5
exception messages (AAssociateRJ/AAbort/NoPresentationContextException toString); fo-dicom
DicomAssociationRejectedException and DicomRejectReason names; Go net / crypto/x509 / crypto/tls errors;
Python ssl / errno texts. The guide's own messages are in GUIDE.
"""

from __future__ import annotations

GUIDE: list[tuple[str, str]] = [
    ("failed to connect to 192.168.1.100:104: dial tcp 192.168.1.100:104: connect: connection refused",
     "server-not-running"),
    ("failed to connect: context deadline exceeded", "firewall-drop"),
    ("TLS handshake failed: x509: certificate signed by unknown authority", "tls-unknown-ca"),
    ("association rejected: called AE title not recognized", "called-ae-not-recognized"),
    ("invalid A-ASSOCIATE-AC: all presentation contexts were rejected", "no-presentation-context"),
    ("PDU length 65536 exceeds maximum allowed 16384", "pdu-length-violation"),
    ("failed to create C-STORE request: SOPClassUID is required", "store-missing-sop-class"),
    ("C-FIND returned no results", "find-no-matches"),
    ("C-MOVE failed: destination AE not found", "move-destination-unknown"),
    ("C-FIND failed: context deadline exceeded", "dimse-timeout"),
    ("transferring a CT series is very slow", "slow-transfer"),
    ("accept tcp [::]:104: accept4: too many open files", "too-many-associations"),
    ("runtime: out of memory while collecting C-FIND results", "find-too-many-results"),
]

BY_TOOL: dict[str, list[tuple[str, str]]] = {
    "dcmtk": [
        ("F: Association Request Failed: 0006:031c TCP Initialization Error: Connection refused",
         "server-not-running"),
        ("F: Association Rejected:\nF: Result: Rejected Permanent, Source: Service User\n"
         "F: Reason: Called AE Title Not Recognized", "called-ae-not-recognized"),
        ("F: Association Rejected:\nF: Result: Rejected Permanent, Source: Service User\n"
         "F: Reason: Calling AE Title Not Recognized", "calling-ae-not-recognized"),
        ("F: Association Rejected:\nF: Result: Rejected Permanent, Source: Service User\nF: Reason: No Reason",
         "reject-no-reason"),
        ("F: No Acceptable Presentation Contexts", "no-presentation-context"),
        ("E: Store Failed, file: ct.dcm:\nE: 0006:0317 Peer aborted Association (or never connected)",
         "peer-aborted"),
        ("E: No presentation context for: (SG) 1.2.840.10008.5.1.4.1.1.66.4", "abstract-syntax-not-supported"),
        ("W: Move response with error status (Failed: UnableToProcess)", "cannot-understand"),
        ("I: Received Store Response (Refused: OutOfResources)", "out-of-resources"),
    ],
    "pynetdicom": [
        ("Association request failed: unable to connect to remote\n"
         "TCP Initialisation Error: [Errno 111] Connection refused", "server-not-running"),
        ("Association Rejected\nResult: Rejected Permanent, Source: DUL service-user\n"
         "Reason: Called AE title not recognised", "called-ae-not-recognized"),
        ("Association Rejected\nResult: Rejected Permanent, Source: DUL service-user\n"
         "Reason: Calling AE title not recognised", "calling-ae-not-recognized"),
        ("Association Rejected\nResult: Rejected Transient, Source: DUL service-provider (presentation "
         "related)\nReason: Local limit exceeded", "too-many-associations"),
        ("No accepted presentation contexts", "no-presentation-context"),
        ("ACSE timeout reached while waiting for response to association request", "association-timeout"),
        ("DIMSE timeout reached while waiting for message response", "dimse-timeout"),
        ("No presentation context for 'CT Image Storage' has been accepted by the peer with 'JPEG 2000 "
         "Image Compression' transfer syntax for the SCU role", "transfer-syntax-not-supported"),
        ("No presentation context for 'CT Image Storage' has been accepted by the peer for the SCP role",
         "role-selection-ignored"),
        ("Invalid 'Called AE Title' value 'LWPACS' - must not contain control characters or backslashes",
         "ae-title-invalid"),
        ("Unknown PDU type received '0x48'", "malformed-pdu"),
        ("Move SCP: Unable to associate with destination AE", "move-connect-back-failed"),
    ],
    "orthanc": [
        ("W1128 00:41:16.926186 CommandDispatcher.cpp:602] Rejected association, because of a bad called "
         "AET in the request (WRONG)", "called-ae-not-recognized"),
        ('W1128 00:41:17.022607 main.cpp:404] DICOM authorization rejected  for AET FINDSCU on IP 127.0.0.1: '
         'This AET is not listed in configuration option "DicomModalities"', "calling-ae-not-authorized"),
        ("E1128 00:41:36.775272 OrthancException.cpp:58] Accessing an inexistent item: Unknown modality for "
         "AET: NOPE", "move-destination-unknown"),
        ("E1128 00:41:35.739212 DicomMap.cpp:1015] Store has failed because required tags (PatientID, "
         "StudyInstanceUID, SeriesInstanceUID) are missing for the following instance: SOPInstanceUID=1.2.3",
         "dataset-sop-mismatch"),
        ('Forbidding access from AET "GW" given its hostname (172.29.0.50) does not match the '
         '"DicomModalities" configuration option (gateway was expected)', "calling-host-mismatch"),
        ("DicomUserConnection: No acceptable presentation context for modality", "no-presentation-context"),
        ("An application entity title (AET) cannot be empty or be longer than 16 characters",
         "ae-title-invalid"),
    ],
    "dcm4che": [
        ("java.net.ConnectException: Connection refused (Connection refused)", "server-not-running"),
        ("org.dcm4che3.net.pdu.AAssociateRJ: A-ASSOCIATE-RJ[result: 1 - rejected-permanent, source: 1 - "
         "service-user, reason: 7 - called-AE-title-not-recognized]", "called-ae-not-recognized"),
        ("A-ASSOCIATE-RJ[result: 2 - rejected-transient, source: 3 - service-provider (Presentation related "
         "function), reason: 2 - local-limit-exceeded]", "too-many-associations"),
        ("org.dcm4che3.net.pdu.AAbort: A-ABORT[source: 0 - service-user, reason: 0]", "peer-aborted"),
        ("org.dcm4che3.net.NoPresentationContextException: No Presentation Context for Abstract Syntax: "
         "1.2.840.10008.5.1.4.1.1.66.4 - Segmentation Storage negotiated", "abstract-syntax-not-supported"),
        ("javax.net.ssl.SSLHandshakeException: PKIX path building failed: sun.security.provider.certpath."
         "SunCertPathBuilderException: unable to find valid certification path to requested target",
         "tls-unknown-ca"),
        ("java.net.SocketTimeoutException: connect timed out", "firewall-drop"),
        ("java.net.UnknownHostException: pacs.example.org", "dns-failure"),
    ],
    "fo-dicom": [
        ("FellowOakDicom.Network.DicomAssociationRejectedException: Association rejected [result: Permanent; "
         "source: ServiceUser; reason: CalledAENotRecognized]", "called-ae-not-recognized"),
        ("DicomAssociationRejectedException: Association rejected [result: Permanent; source: ServiceUser; "
         "reason: CallingAENotRecognized]", "calling-ae-not-recognized"),
        ("DicomAssociationRejectedException: Association rejected [result: Transient; source: "
         "ServiceProviderPresentation; reason: LocalLimitExceeded]", "too-many-associations"),
        ("System.Net.Sockets.SocketException (10061): No connection could be made because the target machine "
         "actively refused it.", "server-not-running"),
        ("FellowOakDicom.Network.DicomNetworkException: Unknown PDU type: 72", "not-dicom"),
        ("Association Abort [source: ServiceUser; reason: NotSpecified]", "peer-aborted"),
    ],
    "go": [
        ("dial tcp 192.168.1.100:104: connect: connection refused", "server-not-running"),
        ("dial tcp 10.0.0.5:104: i/o timeout", "firewall-drop"),
        ("dial tcp: lookup pacs.hospital.local on 127.0.0.53:53: no such host", "dns-failure"),
        ("dial tcp 10.0.0.5:104: connect: no route to host", "host-unreachable"),
        ("x509: certificate has expired or is not yet valid: current time 2026-11-28T00:00:00Z is after "
         "2025-01-01T00:00:00Z", "tls-expired"),
        ("tls: failed to verify certificate: x509: certificate is valid for pacs.local, not 10.0.0.5",
         "tls-hostname-mismatch"),
        ("tls: failed to verify certificate: x509: certificate signed by unknown authority", "tls-unknown-ca"),
        ("remote error: tls: bad certificate", "tls-client-cert-required"),
        ("tls: first record does not look like a TLS handshake", "peer-not-tls"),
    ],
    "python-ssl": [
        ("ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable "
         "to get local issuer certificate (_ssl.c:1006)", "tls-unknown-ca"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)",
         "tls-expired"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not "
         "valid for 'pacs.local'. (_ssl.c:1006)", "tls-hostname-mismatch"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)",
         "tls-self-signed"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate is not yet valid "
         "(_ssl.c:1006)", "tls-not-yet-valid"),
        ("ssl.SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", "peer-not-tls"),
        ("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required (_ssl.c:2580)",
         "tls-client-cert-required"),
        ("[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure (_ssl.c:1006)",
         "tls-protocol-mismatch"),
    ],
    "errno": [
        ("ConnectionRefusedError: [Errno 111] Connection refused", "server-not-running"),
        ("OSError: [Errno 113] No route to host", "host-unreachable"),
        ("TimeoutError: [Errno 110] Connection timed out", "firewall-drop"),
        ("socket.gaierror: [Errno -2] Name or service not known", "dns-failure"),
        ("OSError: [Errno 24] Too many open files", "too-many-associations"),
        ("OSError: [Errno 98] Address already in use", "move-listener-failed"),
        ("ConnectionResetError: [Errno 104] Connection reset by peer", "peer-aborted"),
    ],
}

ALL_TOOL_CASES: list[tuple[str, str, str]] = [(tool, text, cause) for tool, cases in BY_TOOL.items()
                                              for text, cause in cases]


# ------------------------------------------------------------------------------------------------ tests

import pytest  # noqa: E402

from dicomdoctor.engine.kb import load_kb  # noqa: E402


@pytest.fixture(scope="module")
def kb():  # type: ignore[no-untyped-def]
    return load_kb("en")


@pytest.mark.parametrize("text,expected", GUIDE, ids=[c for _, c in GUIDE])
def test_every_problem_of_the_guide_ranks_its_cause_first(kb, text: str, expected: str) -> None:
    ranked = kb.match_text(text)
    assert ranked, f"nothing matches {text!r}"
    assert ranked[0][0] == expected, ranked[:3]


@pytest.mark.parametrize("tool,text,expected", ALL_TOOL_CASES,
                         ids=[f"{tool}-{i}-{c}" for i, (tool, _, c) in enumerate(ALL_TOOL_CASES)])
def test_real_error_text_ranks_the_expected_cause_first(kb, tool: str, text: str, expected: str) -> None:
    ranked = kb.match_text(text)
    assert ranked, f"{tool}: nothing matches {text!r}"
    assert ranked[0][0] == expected, ranked[:3]


def test_at_least_three_real_texts_per_tool() -> None:
    for tool in ("dcmtk", "pynetdicom", "orthanc", "dcm4che", "fo-dicom", "go", "python-ssl"):
        assert len(BY_TOOL[tool]) >= 3, tool


def test_connection_refused_lists_the_guides_four_causes(kb) -> None:
    ids = [cid for cid, _ in kb.match_text("dial tcp 192.168.1.100:104: connect: connection refused")]
    assert ids[:1] == ["server-not-running"]
    for cause in ("wrong-port", "firewall-reject", "listening-on-other-address"):
        assert cause in ids


def test_more_specific_signature_wins(kb) -> None:
    # "context deadline exceeded" alone is a connect timeout in the guide; after C-FIND it is a DIMSE timeout.
    assert kb.match_text("context deadline exceeded")[0][0] == "firewall-drop"
    assert kb.match_text("C-MOVE failed: context deadline exceeded")[0][0] == "dimse-timeout"


def test_match_text_can_be_limited_to_a_check(kb) -> None:
    ranked = kb.match_text("connection refused", check="net.reachable")
    causes = set(kb.check("net.reachable").causes + kb.check("net.reachable").also)
    assert ranked and all(cid in causes for cid, _ in ranked)
    assert kb.match_text("nothing here resembles an error") == []
