"""probes/dicomweb.py and probes/http.py pieces that need no server: the DICOM JSON model through pydicom, the
multipart bodies of WADO-RS and STOW-RS, the base paths tried, credentials; and the DICOMweb options' checks
(dicomweb_target.py, the playbook's `dicomweb:` field, the command line)."""

from __future__ import annotations

import json
import urllib3.exceptions as ue
from pathlib import Path

import pytest

from dicomdoctor.cli import main
from dicomdoctor.dicomweb_target import check_url, dicomweb_options, read_secret
from dicomdoctor.engine.playbook import parse_playbook
from dicomdoctor.errors import BadInput
from dicomdoctor.probes.dicomweb import (candidate_bases, first_part, media_params, multipart_body, plain,
                                         read_dicom_json, summarize, STUDY_KEYS)
from dicomdoctor.probes.http import Credentials, HttpExchange, classify_exception
from dicomdoctor.synthetic import make_instance, to_part10_bytes

STUDY = {"0020000D": {"vr": "UI", "Value": ["1.2.3"]}, "00100010": {"vr": "PN", "Value": [{"Alphabetic": "DOE^J"}]},
         "00080061": {"vr": "CS", "Value": ["CT", "SR"]}, "00201208": {"vr": "IS", "Value": [3]},
         "7FE00010": {"vr": "OB", "BulkDataURI": "http://x/bulk"}}


def test_dicom_json_is_read_with_pydicom_into_plain_values() -> None:
    got = read_dicom_json(json.dumps([STUDY, STUDY]).encode())
    assert got.ok and got.count == 2 and got.is_list
    summary = summarize(got.datasets[0], STUDY_KEYS)
    assert summary == {"StudyInstanceUID": "1.2.3", "ModalitiesInStudy": ["CT", "SR"],
                       "NumberOfStudyRelatedInstances": 3, "PatientName": "DOE^J"}
    assert all(type(v) in (str, int, float, list) for v in summary.values())
    assert plain(b"\x00" * 4) == "4 bytes"


@pytest.mark.parametrize("body, error", [
    (b"<html>", "not JSON"), (b'["8d289a4c-4842dc62"]', "not of DICOM data sets"),
    (b'[{"PatientName": "x"}]', "not a DICOM tag"), (b"\xff\xfe", "not UTF-8"),
])
def test_what_is_not_dicom_json_says_why(body: bytes, error: str) -> None:
    got = read_dicom_json(body)
    assert not got.ok and error in got.error


def test_an_empty_body_is_an_empty_answer() -> None:
    assert read_dicom_json(b"").ok and read_dicom_json(b"[]").count == 0


def test_stow_body_round_trips_through_the_multipart_reader() -> None:
    ds = make_instance(rows=8, cols=8)
    data = to_part10_bytes(ds)
    body, ctype = multipart_body(data, boundary="b0und")
    assert ctype == 'multipart/related; type="application/dicom"; boundary=b0und'
    assert media_params(ctype) == {"type": "application/dicom", "boundary": "b0und"}
    part = first_part(body, ctype, complete_body=True)
    assert part.complete and part.size == len(data) and part.content_type == "application/dicom"
    assert part.sop_instance_uid == ds.SOPInstanceUID and part.transfer_syntax == "1.2.840.10008.1.2.1"
    # a body cut by our byte cap still names the instance from its File Meta header
    cut = first_part(body[:1000], ctype, complete_body=False)
    assert not cut.complete and cut.sop_instance_uid == ds.SOPInstanceUID and not cut.error


def test_broken_multipart_answers_say_what_is_wrong() -> None:
    assert "boundary" in first_part(b"x", "multipart/related", complete_body=True).error
    assert "never appears" in first_part(b"abc", 'multipart/related; boundary="zz"', complete_body=True).error
    body, ctype = multipart_body(b"not dicom at all" * 20)
    assert "not a DICOM Part-10" in first_part(body, ctype, complete_body=True).error


def test_candidate_bases_cover_orthanc_and_dcm4chee_on_the_same_origin() -> None:
    got = candidate_bases("http://pacs:8042", ["ARCHIVE"])
    assert got[0] == "http://pacs:8042/dicom-web"
    assert "http://pacs:8042/dcm4chee-arc/aets/ARCHIVE/rs" in got
    assert "http://pacs:8042/dcm4chee-arc/aets/DCM4CHEE/rs" in got
    assert all(c.startswith("http://pacs:8042/") for c in got)
    assert "http://pacs:8042/dicom-web" not in candidate_bases("http://pacs:8042/dicom-web")
    assert candidate_bases("https://h/orthanc")[0] == "https://h/orthanc/dicom-web"


def test_credentials_never_show_the_secret() -> None:
    basic = Credentials("basic", "pw-123", "user")
    assert basic.header() == "Basic dXNlcjpwdy0xMjM="
    assert "pw-123" not in repr(basic) and "pw-123" not in repr(Credentials("bearer", "pw-123"))
    assert Credentials("bearer", "tok").header() == "Bearer tok"
    ev = HttpExchange("GET", "http://h/x", "answered", status=401, auth="basic",
                      headers={"www-authenticate": 'Basic realm="x"'}).evidence()
    assert ev["auth"] == "basic" and ev["www_authenticate"] == 'Basic realm="x"'
    assert "Authorization" not in json.dumps(ev)


def test_exceptions_are_classified() -> None:
    refused = ue.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert classify_exception(refused)[0] == "refused"
    assert classify_exception(ue.ConnectTimeoutError("timed out"))[0] == "timeout"
    assert classify_exception(ue.ReadTimeoutError(None, "/x", "Read timed out"))[0] == "no-response"
    import http.client
    assert classify_exception(ue.ProtocolError("x", http.client.BadStatusLine("\x07\x00")))[0] == "not-http"
    assert classify_exception(ue.ProtocolError("x", http.client.RemoteDisconnected("gone")))[0] == "closed"
    assert classify_exception(ue.ProtocolError("x", ConnectionResetError(104, "reset")))[0] == "reset"


# ----------------------------------------------------------------------------------- options, playbook, CLI

def test_urls_are_checked() -> None:
    assert check_url("http://pacs:8042/dicom-web/") == "http://pacs:8042/dicom-web"
    assert check_url("HTTPS://pacs/rs") == "https://pacs/rs"
    for bad, message in [("ftp://x", "http:// or https://"), ("http://", "no host"), ("", "empty"),
                         ("http://u:p@h/x", "credentials"), ("http://h/x?a=1", "query"), ("http://h:99999", "URL")]:
        with pytest.raises(BadInput, match=message):
            check_url(bad)


def test_secrets_come_from_a_file_or_an_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "s"
    f.write_text("  tok\n")
    assert read_secret(str(f)) == "tok"
    monkeypatch.setenv("DD_SECRET_TEST", "v")
    assert read_secret("env:DD_SECRET_TEST") == "v"
    with pytest.raises(BadInput, match="not set"):
        read_secret("env:DD_SECRET_MISSING_X")
    with pytest.raises(BadInput, match="no such file"):
        read_secret(str(tmp_path / "missing"))
    (tmp_path / "empty").write_text("")
    with pytest.raises(BadInput, match="empty"):
        read_secret(str(tmp_path / "empty"))
    with pytest.raises(BadInput, match="needs its password"):
        dicomweb_options("http://h/x", user="u")
    opts = dicomweb_options("http://h/x/", user="u", secret=str(f))
    assert opts.url == "http://h/x" and "tok" not in repr(opts)


def test_a_playbook_target_takes_a_dicomweb_field(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("x")
    text = """playbook: 1
targets:
  - {host: pacs, port: 4242, dicomweb: http://pacs:8042/dicom-web}
  - host: arc
    dicomweb: {url: "https://arc:8443/dcm4chee-arc/aets/DCM4CHEE/rs", user: me, secret: pw, insecure: true}
checks: [dicomweb.qido, dicomweb.wado]
"""
    pb = parse_playbook(text, source="t.yaml", folder=tmp_path)
    a, b = pb.targets
    assert a.dicomweb is not None and a.dicomweb.url == "http://pacs:8042/dicom-web" and a.dicomweb.secret is None
    assert b.dicomweb is not None and b.dicomweb.user == "me" and b.dicomweb.secret == str(tmp_path / "pw")
    assert b.dicomweb.insecure is True


@pytest.mark.parametrize("field, message", [
    ("dicomweb: ftp://x", "t.yaml:3: dicomweb"), ("dicomweb: {user: x}", "t.yaml:3: dicomweb needs `url:`"),
    ("dicomweb: {url: 'http://h', pasword: x}", "t.yaml:3: unknown key 'pasword'"),
    ("dicomweb: [1]", "t.yaml:3: dicomweb must be a URL"),
])
def test_playbook_dicomweb_errors_name_file_and_line(field: str, message: str, tmp_path: Path) -> None:
    text = f"playbook: 1\ntargets:\n  - {{host: pacs, {field}}}\nchecks: [dicomweb.qido]\n"
    with pytest.raises(BadInput) as exc:
        parse_playbook(text, source="t.yaml", folder=tmp_path)
    assert str(exc.value).startswith(message), str(exc.value)


def test_command_line_errors_are_exit_3_with_one_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", "pacs", "--playbook", "dicomweb", "--dicomweb", "http://u:pw@pacs/x"]) == 3
    err = capsys.readouterr().err
    assert "credentials in the URL" in err and "pw" not in err.replace("password", "")
    assert main(["diagnose", "pacs", "--playbook", "dicomweb", "--dicomweb-user", "u"]) == 3
    assert "needs --dicomweb URL" in capsys.readouterr().err
    assert main(["diagnose", "pacs", "--playbook", "dicomweb", "--dicomweb", "http://h/x",
                 "--dicomweb-secret", "env:DD_SURELY_UNSET_VAR"]) == 3
    assert "DD_SURELY_UNSET_VAR is not set" in capsys.readouterr().err


def test_without_a_url_the_checks_skip_as_not_applicable(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert main(["diagnose", "127.0.0.1:1", "--playbook", "dicomweb", "--format", "json", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [f["status"] for f in doc["findings"]] == ["skip", "skip"]
    assert "no DICOMweb URL" in doc["findings"][0]["summary"]
