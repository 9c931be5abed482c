#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""WebSocket SIP client for interop tests (RFC 7118): sends one OPTIONS and prints the answer.

Usage: ws_client.py ws://127.0.0.1:PORT[/path] [--ca CA.pem] [--timeout SECONDS]

Uses Debian's python3-websockets. Exits 0 when a SIP response arrived (printed on stdout, as
received), 1 when the server did not select the "sip" subprotocol, sent something that is not a
SIP response or nothing in time, 2 when the connection or handshake failed.
"""
import argparse
import asyncio
import secrets
import ssl
import sys
import urllib.parse

import websockets


def options_request(url: str, scheme: str) -> str:
    host = urllib.parse.urlsplit(url).hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    branch = "z9hG4bK" + secrets.token_hex(8)
    tag = secrets.token_hex(4)
    call_id = secrets.token_hex(8)
    # RFC 7118 §5.2: the Via sent-by of a WebSocket client is a made-up .invalid name.
    transport = "WSS" if scheme == "wss" else "WS"
    return (
        f"OPTIONS sip:{host} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} df7jal23ls0d.invalid;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"To: <sip:{host}>\r\n"
        f"From: <sip:interop@df7jal23ls0d.invalid>;tag={tag}\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"Contact: <sip:interop@df7jal23ls0d.invalid;transport={transport.lower()}>\r\n"
        "Accept: application/sdp\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
    )


async def run(url: str, ca: str, timeout: float) -> int:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("ws", "wss"):
        print(f"ws_client: not a ws:// or wss:// URL: {url}", file=sys.stderr)
        return 2
    ctx = None
    if scheme == "wss":
        ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    try:
        async with websockets.connect(
            url, subprotocols=["sip"], ssl=ctx, open_timeout=timeout, compression=None
        ) as ws:
            if ws.subprotocol != "sip":
                print(f"ws_client: server selected subprotocol {ws.subprotocol!r}",
                      file=sys.stderr)
                return 1
            await ws.send(options_request(url, scheme))
            try:
                rsp = await asyncio.wait_for(ws.recv(), timeout)
            except asyncio.TimeoutError:
                print("ws_client: no response in time", file=sys.stderr)
                return 1
    except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as e:
        print(f"ws_client: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if isinstance(rsp, bytes):
        rsp = rsp.decode("utf-8", errors="replace")
    sys.stdout.write(rsp)
    sys.stdout.flush()
    return 0 if rsp.startswith("SIP/2.0 ") else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="ws://host:port[/path] or wss://host:port[/path]")
    ap.add_argument("--ca", help="PEM CA bundle to verify a wss:// server")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per step (default 5)")
    args = ap.parse_args()
    return asyncio.run(run(args.url, args.ca, args.timeout))


if __name__ == "__main__":
    sys.exit(main())
