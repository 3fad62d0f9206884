"""Which webhook URLs the server sends to: one rule, checked when a webhook is created or
changed and again before every delivery (a name may resolve elsewhere by then: DNS
rebinding).

A URL is ``http`` or ``https`` with a host; every address its host resolves to must be
public (``ipaddress``' ``is_global``: not loopback, private, link-local, shared,
multicast, reserved or unspecified; an IPv4-mapped IPv6 address is judged as its IPv4),
unless ``PUNCHCLOCK_WEBHOOKS_ALLOW_PRIVATE`` allows them. :func:`vet` returns the vetted
addresses, and the deliverer connects to the first of them (:func:`pinned`), not to a
fresh look-up of the name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

MAX_URL = 2048
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL is not one the server sends to; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    url: httpx.URL
    addresses: tuple[Address, ...]


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def parse(text: str) -> httpx.URL:
    """The URL's shape: http(s), a host, no credentials, at most 2048 characters."""
    if len(text) > MAX_URL:
        raise Refused(f"url is at most {MAX_URL} characters.")
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise Refused(f"url is not a URL: {exc}.") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise Refused("url must be an http:// or https:// URL with a host.")
    if url.userinfo:
        raise Refused("url may not carry a user name or password.")
    return url


async def vet(text: str, *, allow_private: bool) -> Target:
    """The URL and the addresses its host resolves to, or :class:`Refused`."""
    url = parse(text)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            url.host, port, type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"url's host {url.host} does not resolve.") from exc
    addresses = tuple(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not addresses:
        raise Refused(f"url's host {url.host} does not resolve.")
    if not allow_private:
        for address in addresses:
            if not _public(address):
                raise Refused(
                    f"url's host {url.host} resolves to {address}, a loopback, private or "
                    "link-local address; webhooks go to public addresses only."
                )
    return Target(url, addresses)


def pinned(target: Target) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """The request to the vetted address: the URL with the address as its host, the
    ``Host`` header of the name, and for https the name for SNI and the certificate."""
    url = target.url
    address = target.addresses[0]
    ip_url = url.copy_with(host=str(address))
    host = url.netloc.decode("ascii")
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return ip_url, {"host": host}, extensions
