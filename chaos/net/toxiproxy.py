"""A small Toxiproxy client of our own: toxiproxy-python keeps its state in class attributes (shared by
every client in the process) and puts no timeout on its requests.

One :class:`ToxiproxyClient` per server, a timeout on every request, PATCH for updates (Toxiproxy 2.6+),
typed toxics, and :class:`~chaos.errors.ToxiproxyError` on every non-2xx answer.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from chaos.errors import ToxiproxyError

Stream = Literal["upstream", "downstream"]


@dataclass
class Toxic:
    """Base of the typed toxics. ``stream="upstream"`` is client→server; ``toxicity`` is the share of
    connections affected."""

    type: ClassVar[str] = ""
    name: str = ""
    stream: Stream = "downstream"
    toxicity: float = 1.0

    def attributes(self) -> dict[str, Any]:
        skip = {"name", "stream", "toxicity"}
        return {k: v for k, v in asdict(self).items() if k not in skip}

    def payload(self) -> dict[str, Any]:
        return {
            "name": self.name or f"{self.type}_{self.stream}",
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.attributes(),
        }


@dataclass
class Latency(Toxic):
    type: ClassVar[str] = "latency"
    latency: int = 0  # ms
    jitter: int = 0  # ms


@dataclass
class Bandwidth(Toxic):
    type: ClassVar[str] = "bandwidth"
    rate: int = 0  # KB/s


@dataclass
class SlowClose(Toxic):
    type: ClassVar[str] = "slow_close"
    delay: int = 0  # ms


@dataclass
class Timeout(Toxic):
    """Stops all data; closes after ``timeout`` ms, or never when 0 (a blackhole)."""

    type: ClassVar[str] = "timeout"
    timeout: int = 0


@dataclass
class ResetPeer(Toxic):
    type: ClassVar[str] = "reset_peer"
    timeout: int = 0  # ms before the TCP RST


@dataclass
class Slicer(Toxic):
    type: ClassVar[str] = "slicer"
    average_size: int = 64
    size_variation: int = 0
    delay: int = 0  # µs between slices


@dataclass
class LimitData(Toxic):
    type: ClassVar[str] = "limit_data"
    bytes: int = 0


TOXIC_TYPES: dict[str, type[Toxic]] = {
    cls.type: cls for cls in (Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData)
}


@dataclass
class ProxyInfo:
    name: str
    listen: str
    upstream: str
    enabled: bool = True
    toxics: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProxyInfo:
        return cls(
            name=data["name"],
            listen=data["listen"],
            upstream=data["upstream"],
            enabled=bool(data.get("enabled", True)),
            toxics=list(data.get("toxics") or []),
        )


class ToxiproxyClient:
    """The Toxiproxy HTTP API at ``base_url`` (e.g. ``http://127.0.0.1:32771``)."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "User-Agent": "brokerchaos"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            raise ToxiproxyError(
                f"toxiproxy {method} {path}: HTTP {exc.code}: {text.strip()}", exc.code, text
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise ToxiproxyError(f"toxiproxy {method} {path}: no answer from {self.base_url}: {exc}") from None
        return json.loads(raw) if raw.strip() else None

    # server
    def version(self) -> str:
        request = urllib.request.Request(self.base_url + "/version", headers={"User-Agent": "brokerchaos"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode().strip()
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise ToxiproxyError(f"toxiproxy GET /version: no answer from {self.base_url}: {exc}") from None
        try:
            return str(json.loads(text).get("version", text))
        except (ValueError, AttributeError):
            return text

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._request("POST", "/reset")

    def populate(self, proxies: list[ProxyInfo]) -> list[ProxyInfo]:
        body = [{"name": p.name, "listen": p.listen, "upstream": p.upstream, "enabled": p.enabled} for p in proxies]
        answer = self._request("POST", "/populate", body)
        return [ProxyInfo.from_json(p) for p in answer["proxies"]]

    # proxies
    def proxies(self) -> dict[str, ProxyInfo]:
        return {name: ProxyInfo.from_json(p) for name, p in self._request("GET", "/proxies").items()}

    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> ProxyInfo:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return ProxyInfo.from_json(self._request("POST", "/proxies", body))

    def get_proxy(self, name: str) -> ProxyInfo:
        return ProxyInfo.from_json(self._request("GET", f"/proxies/{name}"))

    def update_proxy(self, name: str, **changes: Any) -> ProxyInfo:
        return ProxyInfo.from_json(self._request("PATCH", f"/proxies/{name}", changes))

    def delete_proxy(self, name: str) -> None:
        self._request("DELETE", f"/proxies/{name}")

    def set_enabled(self, name: str, enabled: bool) -> ProxyInfo:
        """Disabling a proxy closes its connections and refuses new ones (a "proxy down" fault)."""
        return self.update_proxy(name, enabled=enabled)

    # toxics
    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return list(self._request("GET", f"/proxies/{proxy}/toxics"))

    def add_toxic(self, proxy: str, toxic: Toxic) -> dict[str, Any]:
        return dict(self._request("POST", f"/proxies/{proxy}/toxics", toxic.payload()))

    def update_toxic(self, proxy: str, toxic: Toxic) -> dict[str, Any]:
        payload = toxic.payload()
        body = {"toxicity": payload["toxicity"], "attributes": payload["attributes"]}
        return dict(self._request("PATCH", f"/proxies/{proxy}/toxics/{payload['name']}", body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._request("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def remove_all_toxics(self, proxy: str) -> None:
        for toxic in self.toxics(proxy):
            self.remove_toxic(proxy, toxic["name"])
