"""Real processes on loopback ports: the gateway and the fixture servers, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A command started in the background; `url` answers `GET /health` once it is up."""

    name: str
    command: list[str]
    url: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, timeout: float = 30) -> Service:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            self.command, env={**os.environ, **self.env}, stdout=handle, stderr=subprocess.STDOUT
        )
        handle.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing; what a power cut does."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _gateway_env(data_dir: Path, directory: Path, settings: dict[str, str]) -> dict[str, str]:
    return {
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_DIRECTORY_FILE": str(directory),
        "GATEWAY_CONFIG_FILE": str(data_dir / "no-config.toml"),
        "GATEWAY_DELIVERY_BASE_DELAY_SECONDS": "0.2",
        "GATEWAY_DELIVERY_MAX_DELAY_SECONDS": "1",
        "GATEWAY_DELIVERY_TIMEOUT_SECONDS": "2.5",  # shorter than the lease (Settings refuses otherwise)
        "GATEWAY_DELIVERY_LEASE_SECONDS": "3",
        "GATEWAY_INSECURE_NO_AUTH": "true",
        **{f"GATEWAY_{key.upper()}": value for key, value in settings.items()},
    }


def gateway(data_dir: Path, directory: Path, *, name: str = "gateway", **settings: str) -> Service:
    """`gateway serve` on a free port (with its delivery worker unless `worker_enabled="false"`)."""
    port = free_port()
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port)]
    env = _gateway_env(data_dir, directory, settings)
    return Service(name, command, f"http://127.0.0.1:{port}", env, data_dir / f"{name}.log")


def worker(data_dir: Path, directory: Path, *, name: str = "worker", **settings: str) -> Service:
    """`gateway worker`; its metrics port answers for `Service.start`'s readiness poll."""
    port = free_port()
    command = [sys.executable, "-m", "gateway", "worker", "--metrics-port", str(port)]
    env = _gateway_env(data_dir, directory, settings)
    return Service(name, command, f"http://127.0.0.1:{port}", env, data_dir / f"{name}.log")


def fixture(role: str, log_dir: Path, **settings: str) -> Service:
    port = free_port()
    env = {f"FIXTURE_{key.upper()}": value for key, value in settings.items()}
    command = [sys.executable, "-m", "gateway", "fixtures", "serve", "--role", role, "--port", str(port)]
    return Service(role, command, f"http://127.0.0.1:{port}", env, log_dir / f"fixture-{role}.log")


def directory(data_dir: Path, gp: Service, municipality: Service) -> Path:
    """The demo recipient directory with the two fixture receivers' endpoints, written to `data_dir`."""
    from tests.support.scenario import write_directory

    return write_directory(
        data_dir / "directory.yaml", f"{gp.url}/fhir/$process-message", f"{municipality.url}/fhir/$process-message"
    )


@dataclass(frozen=True)
class DeliveryStack:
    """The gateway's API (`api.url` takes intake), the process delivering (the API itself or `worker`), and the
    two fixture receivers, all on loopback."""

    api: Service
    gp: Service
    municipality: Service
    worker: Service | None


@contextmanager
def delivery_stack(data_dir: Path, *, separate_worker: bool, **settings: str) -> Iterator[DeliveryStack]:
    """Both fixtures and `gateway serve` with its own delivery worker (the README's single-node shape), or
    `serve` without one and a `gateway worker` beside it (`separate_worker`, the shape of a scaled deployment);
    every process stopped on the way out. `settings` are `GATEWAY_*` settings for the gateway's processes."""
    started: list[Service] = []
    try:
        gp = fixture("gp", data_dir).start()
        started.append(gp)
        municipality = fixture("municipality", data_dir).start()
        started.append(municipality)
        recipients = directory(data_dir, gp, municipality)
        shape = {"worker_enabled": "false"} if separate_worker else {}
        api = gateway(data_dir, recipients, name="api", **shape, **settings).start(timeout=90)
        started.append(api)
        delivering = worker(data_dir, recipients, **settings).start(timeout=90) if separate_worker else None
        if delivering is not None:
            started.append(delivering)
        yield DeliveryStack(api, gp, municipality, delivering)
    finally:
        for service in reversed(started):
            service.stop()
