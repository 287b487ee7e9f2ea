"""Every kind of startup and CLI error names the file, the key, the channel or destination,
and says what to do: one test per kind, asserting the message users read."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.pki import write_dev_pki
from tests.support.mllp import free_port

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "samples" / "hl7v2" / "adt_a01_admission.hl7"


def check(tmp_path: Path, text: str) -> tuple[int, str]:
    config = tmp_path / "routes.yaml"
    config.write_text(textwrap.dedent(text).lstrip("\n"))
    result = CliRunner().invoke(main, ["check", "-c", str(config)])
    return result.exit_code, result.output.replace(str(tmp_path), "TMP")


def tls_channel(cert: str, key: str) -> str:
    return f"""
        version: 1
        channels:
          mllp_in:
            type: mllp
            listen: 127.0.0.1:0
            tls:
              cert_file: {cert}
              key_file: {key}
        routes:
          - name: everything
            drop: true
        """


def test_a_missing_tls_file_names_the_channel_the_key_and_the_file(tmp_path: Path) -> None:
    pki = write_dev_pki(tmp_path / "pki")
    code, out = check(tmp_path, tls_channel(str(tmp_path / "nope.crt"), str(pki.server_key)))
    assert code == 1
    assert (
        "TMP/routes.yaml:7:18: error[missing-file] channel 'mllp_in': tls.cert_file:"
        " TMP/nope.crt does not exist; fix the path, or create development certificates"
        " with `passerelle certs --out DIR`"
    ) in out


def test_a_garbage_certificate_says_what_the_file_holds(tmp_path: Path) -> None:
    pki = write_dev_pki(tmp_path / "pki")
    garbage = tmp_path / "garbage.crt"
    garbage.write_bytes(b"\x00\x01 not a certificate\n")
    code, out = check(tmp_path, tls_channel(str(garbage), str(pki.server_key)))
    assert code == 1
    assert (
        "TMP/routes.yaml:7:18: error[bad-certificate] channel 'mllp_in': tls.cert_file:"
        " TMP/garbage.crt holds no PEM certificate; give a PEM certificate"
        " ('-----BEGIN CERTIFICATE-----')"
    ) in out
    # a key given as the certificate is called out as such
    code, out = check(tmp_path, tls_channel(str(pki.server_key), str(pki.server_key)))
    assert "TMP/pki/server.key holds a private key; give a PEM certificate" in out


def test_a_key_that_is_not_the_certificates_is_refused(tmp_path: Path) -> None:
    pki = write_dev_pki(tmp_path / "pki")
    code, out = check(tmp_path, tls_channel(str(pki.server_cert), str(pki.client_key)))
    assert code == 1
    assert (
        "TMP/routes.yaml:8:17: error[key-mismatch] channel 'mllp_in': tls.key_file"
        " (TMP/pki/client.key) is not the private key of cert_file (TMP/pki/server.crt):"
        " give the key that goes with the certificate"
    ) in out


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        (  # deeper than its siblings
            "      listen: 127.0.0.1:0",
            "5:13: error[yaml-syntax] a 'key:' where YAML expects a value: this line is probably"
            " indented deeper than the key above it, which makes it part of that key's value;"
            " align it with its sibling keys",
        ),
        (  # between its block and the parent's
            "   listen: 127.0.0.1:0",
            "5:4: error[yaml-syntax] this line is not aligned with the block it belongs to"
            " (the block that starts at line 3, column 3)",
        ),
    ],
)
def test_a_badly_indented_key_is_explained_in_plain_words(
    tmp_path: Path, listen: str, message: str
) -> None:
    text = f"version: 1\nchannels:\n  mllp_in:\n    type: mllp\n{listen}\n"
    code, out = check(tmp_path, text)
    assert code == 1
    assert out.startswith(f"TMP/routes.yaml:{message}")


def test_a_name_with_a_dash_is_a_clear_error_with_the_fix(tmp_path: Path) -> None:
    code, out = check(
        tmp_path,
        """
        version: 1
        channels:
          adt-in: {type: mllp, listen: "127.0.0.1:0"}
        routes:
          - name: everything
            from: [adt-in]
            drop: true
        """,
    )
    assert code == 1
    message = (
        "'adt-in' is not a valid name: names are lower-case letters and digits,"
        " words joined by single underscores (write 'adt_in')"
    )
    assert f"TMP/routes.yaml:3:3: error[invalid-value] channels.adt-in: {message}" in out
    assert f"TMP/routes.yaml:6:12: error[invalid-value] routes[0].from[0]: {message}" in out
    assert "Tuple should have" not in out and "2 errors" in out


def test_an_address_in_use_names_the_channel_its_key_and_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(
        "version: 1\n"
        f"engine: {{home: {tmp_path}}}\n"
        "channels:\n"
        "  mllp_in:\n"
        "    type: mllp\n"
        "    listen: 127.0.0.1:${MLLP_PORT:-2575}\n"
        "routes:\n"
        "  - name: everything\n"
        "    drop: true\n"
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["run", "-c", str(config)], env={"MLLP_PORT": str(port)})
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"passerelle: {config}:6:13: channel 'mllp_in': cannot listen on 127.0.0.1:{port}:"
        " address already in use; another program already listens there: stop it,"
        " or set MLLP_PORT=... or change 'listen'"
    )


def test_send_to_a_closed_port_is_one_line() -> None:
    port = free_port()
    result = CliRunner().invoke(main, ["send", str(SAMPLE), "--to", f"mllp://127.0.0.1:{port}"])
    assert result.exit_code == 2
    assert result.output == (
        f"passerelle send: nothing listens on 127.0.0.1:{port} (connection refused):"
        " is the engine running?\n"
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("mllp://127.0.0.1:99999", "expected mllp://host:port or mllps://host:port"),
        ("http://127.0.0.1:2575", "expected mllp://host:port or mllps://host:port"),
    ],
)
def test_send_with_a_bad_target_names_the_option(target: str, message: str) -> None:
    result = CliRunner().invoke(main, ["send", str(SAMPLE), "--to", target])
    assert result.exit_code == 2
    assert f"Invalid value for --to: {message}" in result.output
    assert "Traceback" not in result.output


def test_an_unquoted_off_is_explained_as_yaml_reads_it(tmp_path: Path) -> None:
    code, out = check(
        tmp_path,
        """
        version: 1
        channels:
          gam:
            type: mllp
            listen: 127.0.0.1:0
            hl7: {dmp_gating: off}
        routes:
          - {name: everything, drop: true}
        """,
    )
    assert code == 1
    assert (
        "TMP/routes.yaml:6:23: error[invalid-value] channels.gam.hl7.dmp_gating: YAML reads off"
        " as a boolean (false): write it in quotes, \"off\" (Input should be 'off' or 'refuse')"
    ) in out


def test_a_missing_configuration_says_how_to_give_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "routes.yaml:1:1: error[io-error] cannot read routes.yaml: No such file or directory",
        "routes.yaml: 1 error, 0 warnings",
        "(no routes.yaml here: run from the directory that has it, or give it with -c FILE"
        " or PASSERELLE_CONFIG)",
    ]
