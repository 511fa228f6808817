"""`dicomdoctor explain`: statuses (hex, 0x, decimal; with and without --service), real error texts from
each tool, JSON output, Chinese, and nonsense (exit 3, one message on stderr)."""

from __future__ import annotations

import json

import pytest

from dicomdoctor.cli import main
from dicomdoctor.commands.explain import explain, parse_status


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["explain", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    code, out, err = _run(capsys, *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("text,value", [
    ("A801", 0xA801), ("0xA801", 0xA801), ("0XA801", 0xA801), ("a801h", 0xA801), ("43009", 0xA801),
    ("0110", 0x0110), ("C000", 0xC000), ("0x0", 0), ("272", 0x0110), ("FF00", 0xFF00), (" status 0xB000 ", 0xB000),
])
def test_parse_status(text: str, value: int) -> None:
    assert parse_status(text) == value


@pytest.mark.parametrize("text", ["connection refused", "0xA8011", "99999", "A80", "0x", "A801 is bad", ""])
def test_not_a_status(text: str) -> None:
    assert parse_status(text) is None


def test_a801_for_c_move(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "A801", "--service", "c-move", "--no-color")
    assert code == 0 and not err
    assert "0xA801" in out and "move destination unknown" in out.lower() and "failure" in out
    assert "move-destination-unknown" in out and "DicomModalities" in out
    data = _json(capsys, "A801", "--service", "c-move")
    assert data["status"]["service"] == "c-move" and data["status"]["category"] == "failure"
    assert data["causes"][0]["id"] == "move-destination-unknown"


def test_decimal_43009_is_a801_even_without_service(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "43009")
    assert data["status"]["code"] == 0xA801 and data["status"]["hex"] == "0xA801"
    assert data["status"]["service"] == "c-move"  # the only service that defines it
    assert data["causes"][0]["id"] == "move-destination-unknown"


def test_a700_for_c_store(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "0xA700", "--service", "c-store")
    assert data["status"]["category"] == "failure" and "resources" in data["status"]["name"].lower()
    assert data["causes"][0]["id"] == "out-of-resources"


def test_c000(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "C000")
    assert data["status"]["category"] == "failure"
    assert data["causes"][0]["id"] == "cannot-understand"
    code, out, _ = _run(capsys, "C000", "--no-color")
    assert code == 0 and "C-FIND" in out  # the service-specific meanings are listed


def test_ff00_is_pending_without_causes(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "FF00", "--service", "c-find")
    assert data["status"]["category"] == "pending" and data["causes"] == []
    code, out, _ = _run(capsys, "FF00", "--no-color")
    assert code == 0 and "pending" in out


def test_0110_processing_failure(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "0110")
    assert data["status"]["code"] == 0x0110 and data["status"]["category"] == "failure"
    assert data["causes"][0]["id"] == "processing-failure"


def test_json_keys(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "A801", "--service", "c-move")
    assert {"status", "causes"} <= set(data)
    assert {"code", "hex", "name", "category", "meaning", "service"} <= set(data["status"])
    for cause in data["causes"]:
        assert set(cause) >= {"id", "title", "explanation", "fixes", "refs", "score"}
        assert cause["fixes"] and isinstance(cause["score"], (int, float))
    text = _json(capsys, "Peer aborted Association (or never connected)")
    assert text["status"] is None and text["causes"][0]["id"] == "peer-aborted"


@pytest.mark.parametrize("text,expected", [
    # dcmtk
    ("F: Association Request Failed: 0006:031c TCP Initialization Error: Connection refused", "server-not-running"),
    ("F: Reason: Called AE Title Not Recognized", "called-ae-not-recognized"),
    ("F: No Acceptable Presentation Contexts", "no-presentation-context"),
    # pynetdicom
    ("Reason: Calling AE title not recognised", "calling-ae-not-recognized"),
    ("DIMSE timeout reached while waiting for message response", "dimse-timeout"),
    ("ACSE timeout reached while waiting for response to association request", "association-timeout"),
    # Orthanc
    ("Rejected association, because of a bad called AET in the request (WRONG)", "called-ae-not-recognized"),
    ("Accessing an inexistent item: Unknown modality for AET: NOPE", "move-destination-unknown"),
    ('DICOM authorization rejected  for AET FINDSCU on IP 127.0.0.1: This AET is not listed in configuration '
     'option "DicomModalities"', "calling-ae-not-authorized"),
    # dcm4che
    ("java.net.ConnectException: Connection refused", "server-not-running"),
    ("A-ASSOCIATE-RJ[result: 2 - rejected-transient, source: 3 - service-provider (Presentation related "
     "function), reason: 2 - local-limit-exceeded]", "too-many-associations"),
    ("javax.net.ssl.SSLHandshakeException: PKIX path building failed", "tls-unknown-ca"),
    # fo-dicom
    ("Association rejected [result: Permanent; source: ServiceUser; reason: CalledAENotRecognized]",
     "called-ae-not-recognized"),
    ("DicomNetworkException: Unknown PDU type: 72", "not-dicom"),
    ("Association rejected [result: Transient; source: ServiceProviderPresentation; reason: LocalLimitExceeded]",
     "too-many-associations"),
    # Go
    ("dial tcp 10.0.0.5:104: connect: connection refused", "server-not-running"),
    ("x509: certificate has expired or is not yet valid", "tls-expired"),
    ("dial tcp: lookup pacs.local: no such host", "dns-failure"),
    # Python ssl
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid "
     "for 'pacs'.", "tls-hostname-mismatch"),
    ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", "peer-not-tls"),
    ("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required", "tls-client-cert-required"),
])
def test_error_text_ranks_the_expected_cause_first(capsys: pytest.CaptureFixture[str], text: str,
                                                   expected: str) -> None:
    data = _json(capsys, text)
    assert data["status"] is None
    assert data["causes"][0]["id"] == expected, [c["id"] for c in data["causes"]]


def test_text_output_lists_explanation_and_fixes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "connect: connection refused", "--no-color")
    assert code == 0 and not err
    assert out.index("server-not-running") < out.index("wrong-port")
    assert "ss -ltnp" in out and "Fixes:" in out


def test_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "A801", "--service", "c-move", "--lang", "zh")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in data["causes"][0]["title"])
    code, out, _ = _run(capsys, "connection refused", "--lang", "zh", "--no-color")
    assert code == 0 and "解决方法" in out and "DICOM 服务未运行" in out


@pytest.mark.parametrize("argv", [["xyzzy plugh frobnicate"], ["   "], ["A801", "--service", "c-fetch"]])
def test_nonsense_exits_3_with_one_message(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("dicomdoctor: ")
    assert "Traceback" not in err


def test_explain_function_is_usable_without_the_cli() -> None:
    result = explain("0xA702", "c-move")
    assert result["status"]["hex"] == "0xA702"
    assert [c["id"] for c in result["causes"]][:2] == ["move-connect-back-failed", "out-of-resources"]


# ------------------------------------------------------------------------- by structure (issue 11)

@pytest.mark.parametrize("text,expected,kind", [
    ("association rejected: association rejected: result=1, source=1, reason=7", "called-ae-not-recognized",
     "reject"),
    ("failed to read PDU: failed to read PDU header: read tcp 127.0.0.1:5000->127.0.0.1:104: i/o timeout",
     "association-timeout", "timeout"),
    ("PDU length 1414541105 exceeds maximum allowed 104857600", "not-dicom", "wire"),
    ("unexpected PDU type: expected A-ASSOCIATE-AC or RJ, got 0x15", "peer-expects-tls", "wire"),
    ("failed to create C-STORE request: SOPClassUID not found in dataset", "store-missing-sop-class", "local"),
    ("E: Move SCU Failed: 0006:020d DIMSE Failed to receive message", "peer-aborted", "abort"),
    ("Move SCP Result: (Failure - 0xc502)", "cannot-understand", "status"),
])
def test_issue_lines_are_explained_by_structure(capsys: pytest.CaptureFixture[str], text: str, expected: str,
                                                kind: str) -> None:
    data = _json(capsys, text)
    assert data["causes"][0]["id"] == expected, [c["id"] for c in data["causes"]]
    assert data["facts"] and data["facts"][0]["kind"] == kind
    assert data["facts"][0]["causes"][0] == expected


def test_a_status_inside_a_line_is_decoded_with_the_service_of_its_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "Move SCP Result: (Failure - 0xc502)")
    assert data["status"]["hex"] == "0xC502" and data["facts"][0]["service"] == "c-move"
    data = _json(capsys, "I: Move SCP Result: 0xA801 (Failure)")
    assert data["causes"][0]["id"] == "move-destination-unknown"


def test_text_output_lists_the_recognised_facts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "PDU length 1414541105 exceeds maximum allowed 104857600", "--no-color")
    assert code == 0 and not err
    assert "Recognised in the text:" in out and "'TP/1'" in out and "HTTP" in out
    assert out.index("Recognised") < out.index("1. ")
    code, out, _ = _run(capsys, "unexpected PDU type: expected A-ASSOCIATE-AC or RJ, got 0x15", "--lang", "zh",
                        "--no-color")
    assert code == 0 and "从文本中识别出的事实" in out and "解决方法" in out


def test_the_tui_renders_explain_with_the_commands_labels_in_chinese() -> None:
    from dicomdoctor.engine.explain import explain as engine_explain, labels
    from dicomdoctor.tui.screens.explain import render_explanation

    for lang in ("en", "zh"):
        lab = labels(lang)
        text = render_explanation(engine_explain("A801", "c-move", lang), lang).plain
        assert f"{lab['status']} 0xA801" in text and f"{lab['related']}:" in text and f"{lab['fixes']}:" in text
        tls_line = "unexpected PDU type: expected A-ASSOCIATE-AC or RJ, got 0x15"
        text = render_explanation(engine_explain(tls_line, None, lang), lang).plain
        assert f"{lab['facts']}:" in text and f"{lab['causes']}:" in text and "peer-expects-tls" in text
    assert "解决方法" in render_explanation(engine_explain("connection refused", None, "zh"), "zh").plain
