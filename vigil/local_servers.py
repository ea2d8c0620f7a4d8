"""Start a private Mosquitto on a free loopback port (tests, benchmarks, CI).

It never touches a broker already running on the machine: its own config, port,
persistence directory and PID, stopped by that PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Self

from vigil.broker_auth import BrokerAuth
from vigil.embedded_broker import free_port


class TlsFiles(NamedTuple):
    """A TLS listener's files: the CA that signed the broker's certificate, and its key."""

    ca: Path
    cert: Path
    key: Path


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/bin/{name}"


def find_mosquitto() -> str | None:
    """The Mosquitto broker's binary, if installed (Debian puts it in /usr/sbin)."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return binary if Path(binary).exists() else None


def find_dynsec_plugin() -> Path | None:
    """Mosquitto's dynamic-security plugin, where Debian (or a source build) puts it."""
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"):
        for name in ("mosquitto_dynamic_security.so", "mosquitto/mosquitto_dynamic_security.so"):
            if (Path(folder) / name).exists():
                return Path(folder) / name
    return None


class MosquittoProcess:
    """A Mosquitto of our own: ``persistence true`` so queues survive a restart.

    With ``users`` (name -> password) or ``auth`` (``vigil devices``' identities, with their
    ACL) anonymous clients are refused; ``tls`` adds a TLS listener on ``tls_port``;
    ``dynsec`` loads the dynamic-security plugin with that state file (made beforehand
    by ``mosquitto_ctrl dynsec init``).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        users: dict[str, str] | None = None,
        auth: BrokerAuth | None = None,
        tls: TlsFiles | None = None,
        dynsec: Path | None = None,
    ) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.tls_port = free_port() if tls else None
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if users or auth or dynsec else 'true'}",
            "persistence true",
            f"persistence_location {workdir}/",
            "autosave_interval 1",
            "max_queued_messages 1000000",
            "max_inflight_messages 1000",
            "log_dest file " + str(workdir / "mosquitto.log"),
        ]
        if users:
            passwords = workdir / "passwords"
            passwords.write_text("", encoding="utf-8")
            for user, password in users.items():
                subprocess.run(  # noqa: S603 - fixed tool, our own file
                    [_tool("mosquitto_passwd"), "-b", str(passwords), user, password],
                    check=True,
                    capture_output=True,
                )
            lines.append(f"password_file {passwords}")
        if auth is not None:  # vigil devices' identities: passwords and per-device ACLs
            lines += [f"password_file {auth.passwd}", f"acl_file {auth.acl}"]
        if dynsec is not None:  # the dynamic-security plugin, its state in this file
            plugin = find_dynsec_plugin()
            if plugin is None:
                raise FileNotFoundError("Mosquitto's dynamic-security plugin is not installed")
            lines += [f"plugin {plugin}", f"plugin_opt_config_file {dynsec}"]
        if tls is not None:  # settings after a listener apply to it
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {tls.ca}",
                f"certfile {tls.cert}",
                f"keyfile {tls.key}",
                "tls_version tlsv1.2",
            ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto' and cannot write here
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def start(self, timeout_s: float = 10.0) -> None:
        """Start and wait until the port accepts connections."""
        self.process = subprocess.Popen(  # noqa: S603 - fixed binary, our own config
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.workdir / "mosquitto.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mosquitto exited early: {log}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"mosquitto did not listen on {self.port}")

    def reload(self) -> None:
        """SIGHUP: Mosquitto rereads its password and ACL files."""
        if self.process is not None:
            self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), so it saves its persistence file."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> Self:
        """Start the broker."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the broker."""
        self.stop()
