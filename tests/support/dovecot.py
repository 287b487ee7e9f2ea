"""A real Dovecot IMAP server for tests: TLS on both ports (STARTTLS and implicit TLS),
client certificates required, started in a temp dir on free ports.

The configuration is the one verified in ``dependencies.md`` §4.1, plus client
certificate checking (``ssl_verify_client_cert``, ``auth_ssl_require_client_cert``, no CRL
required). Dovecot refuses to run as root, so as root the whole instance runs as
``nobody`` (``setpriv``); as another user it runs as that user. Each test takes its own
account (:meth:`Dovecot.new_user`). Without the ``dovecot`` binary the tests skip, or fail
when ``CI=true``.
"""

from __future__ import annotations

import grp
import imaplib
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.pki import DevPki
from tests.support.mllp import free_port

USERS = 40
PASSWORD = "s3cret-test"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = dovecot-test-{port}
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ports}
    ssl = yes
  }}
}}
ssl = required
ssl_cert = <{d}/server.pem
ssl_key = <{d}/server.key
ssl_ca = <{d}/ca.pem
ssl_verify_client_cert = yes
ssl_require_crl = no
auth_ssl_require_client_cert = yes
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {d}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%n
}}
mail_location = maildir:~/Maildir
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
"""


def dovecot_binary() -> str:
    """The dovecot path; skips the test (fails under CI=true) when it is not installed."""
    found = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if Path(p).exists()), None
    )
    if found is None:
        reason = "dovecot is not installed (apt-get install dovecot-imapd)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the Dovecot tests")
        pytest.skip(reason)
    return found


@dataclass
class Dovecot:
    """A running instance; :meth:`stop` ends it."""

    directory: Path
    starttls_port: int
    tls_port: int
    pki: DevPki
    process: subprocess.Popen[bytes]
    _users: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_user(self) -> str:
        """A fresh account name (password :data:`PASSWORD`) with an empty mailbox."""
        n = next(self._users)
        if n > USERS:
            raise RuntimeError("the test Dovecot ran out of accounts; raise USERS")
        return f"user{n}"

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        ctx.load_cert_chain(self.pki.client_cert, self.pki.client_key)
        return ctx

    def client(self, user: str) -> imaplib.IMAP4_SSL:
        """A logged-in implicit-TLS client for setting up and checking mailboxes; closed
        if the login fails (a refused login must not leave an unclosed socket behind: under
        ``filterwarnings = error`` its ResourceWarning fails whichever test the garbage
        collector happens to run in)."""
        conn = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=self.context(), timeout=10)
        try:
            conn.login(user, PASSWORD)
        except BaseException:
            conn.shutdown()
            raise
        return conn

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        conn = self.client(user)
        try:
            status, data = conn.append(folder, None, None, raw)
            assert status == "OK", data
        finally:
            conn.logout()

    def messages(self, user: str, folder: str) -> list[bytes]:
        """The mails of a folder (empty when the folder does not exist)."""
        conn = self.client(user)
        try:
            status, _ = conn.select(f'"{folder}"', readonly=True)
            if status != "OK":
                return []
            _, data = conn.uid("SEARCH", "ALL")
            out = []
            for uid in (data[0] or b"").split():
                _, fetched = conn.uid("FETCH", uid, "(BODY.PEEK[])")
                out.extend(item[1] for item in fetched if isinstance(item, tuple))
            return out
        finally:
            conn.logout()

    def flags(self, user: str, folder: str = "INBOX") -> list[set[str]]:
        conn = self.client(user)
        try:
            conn.select(f'"{folder}"', readonly=True)
            _, data = conn.uid("FETCH", "1:*", "(FLAGS)")
            return [
                set(m.group(1).decode().split())
                for item in data
                if isinstance(item, bytes) and (m := re.search(rb"FLAGS \(([^)]*)\)", item))
            ]
        finally:
            conn.logout()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        path = self.directory / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _wait(ports: tuple[int, ...], process: subprocess.Popen[bytes], d: Path) -> None:
    deadline = time.monotonic() + 15
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", pending[0]), timeout=0.5):
                pending.pop(0)
        except OSError:
            time.sleep(0.02)
    if pending:
        log = (
            (d / "dovecot.log").read_text(errors="replace") if (d / "dovecot.log").exists() else ""
        )
        raise RuntimeError(f"dovecot did not listen on {pending}: {log[-2000:]}")


def start_dovecot(directory: Path, pki: DevPki) -> Dovecot:
    """Start Dovecot in ``directory`` (created) with the dev PKI's server cert and CA."""
    binary = dovecot_binary()
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        account = pwd.getpwnam("nobody")
        group = grp.getgrgid(account.pw_gid).gr_name
        user, uid, gid = account.pw_name, account.pw_uid, account.pw_gid
        prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    else:
        user, uid, gid = pwd.getpwuid(os.getuid()).pw_name, os.getuid(), os.getgid()
        group = grp.getgrgid(gid).gr_name
        prefix = []
    port, ports = free_port(), free_port()
    for name, source in (("server.pem", pki.server_cert), ("server.key", pki.server_key)):
        shutil.copyfile(source, directory / name)
    shutil.copyfile(pki.ca_cert, directory / "ca.pem")
    (directory / "users").write_text(
        "".join(f"user{n}:{{PLAIN}}{PASSWORD}::::::\n" for n in range(1, USERS + 1))
    )
    (directory / "dovecot.conf").write_text(
        CONFIG.format(d=directory, port=port, ports=ports, user=user, group=group, uid=uid, gid=gid)
    )
    for sub in ("run", "state", "mail"):
        (directory / sub).mkdir(exist_ok=True)
    for path in (directory, *directory.rglob("*")):
        os.chown(path, uid, gid)
    process = subprocess.Popen(
        [*prefix, binary, "-F", "-c", str(directory / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait((port, ports), process, directory)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return Dovecot(directory, port, ports, pki, process)


__all__ = ["PASSWORD", "Dovecot", "dovecot_binary", "start_dovecot"]
