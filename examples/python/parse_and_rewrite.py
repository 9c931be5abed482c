#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Parses a SIP request, points its Request-URI somewhere else, adds a Via as a proxy would
(RFC 3261 §16.6), and prints the result.

usage: parse_and_rewrite.py [FILE] [--uri URI] [--via SENT-BY]
  FILE defaults to a built-in INVITE; "-" reads standard input.
"""

import argparse
import hashlib
import sys

import libsip

SAMPLE = (
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?")
    ap.add_argument("--uri", default="sip:bob@192.0.2.4:5060")
    ap.add_argument("--via", default="proxy.example.com")
    args = ap.parse_args()

    if args.file is None:
        data = SAMPLE.encode()
    elif args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(args.file, "rb") as f:
            data = f.read()

    try:
        msg = libsip.Message.parse(data)
    except libsip.ParseError as e:
        print(f"line {e.line}, column {e.column}: {e.reason} (would answer {e.status} "
              f"{e.phrase})", file=sys.stderr)
        return 1
    if not msg.is_request:
        print("not a request", file=sys.stderr)
        return 1

    print(f"# {msg.method} to {msg.uri} (host {msg.uri.host}), call {msg.call_id}, "
          f"top Via branch {msg.via.branch}", file=sys.stderr)
    msg.uri = args.uri
    # A new branch for the new hop; the magic cookie marks RFC 3261 branches (§8.1.1.7).
    branch = hashlib.sha1(f"{msg.call_id} {msg.via.branch} {args.uri}".encode()).hexdigest()[:16]
    msg.prepend_header("Via", f"SIP/2.0/UDP {args.via};branch=z9hG4bK{branch}")
    if "Max-Forwards" in msg.headers:
        # In place, so the header keeps its position (RFC 3261 §16.6 step 3).
        msg.headers["Max-Forwards"][0].replace(msg.max_forwards - 1)
    sys.stdout.write(str(msg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
