# SPDX-License-Identifier: MIT
"""A parsed message prints back byte for byte, and an edit changes only its own line: every .sip
of bench/corpus and examples/messages and every message the conformance manifests call valid
(../shared/conformance: RFC 4475, RFC 5118 through its CRLF wire/ copies; dblreq aside, its
trailing octets are discarded). tests/lua/test_roundtrip.lua checks the same in Lua."""

import csv
import glob
import os

import pytest

import libsip

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CONFORMANCE = os.path.join(ROOT, "..", "shared", "conformance")


def corpus():
    files = sorted(glob.glob(os.path.join(ROOT, "bench", "corpus", "*.sip")))
    files += sorted(glob.glob(os.path.join(ROOT, "examples", "messages", "*.sip")))
    for folder, wire in (("rfc4475", ""), ("rfc5118", "wire")):
        with open(os.path.join(CONFORMANCE, folder, "MANIFEST.tsv"), encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row["kind"] == "valid" and row["name"] != "dblreq":
                    files.append(os.path.join(CONFORMANCE, folder, wire, row["name"] + ".dat"))
    return files


FILES = corpus()
IDS = [os.path.relpath(p, os.path.join(ROOT, "..")) for p in FILES]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_the_corpus_is_all_there():
    # 5 + 5 example and bench messages, 13 + 10 valid conformance messages (dblreq aside).
    assert len(FILES) >= 29


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_prints_back_as_received(path):
    data = read(path)
    with libsip.Message.parse(data) as msg:
        assert bytes(msg) == data


def changed(before, after):
    """The lines that differ between two texts, once the equal head and tail are set aside."""
    a, b = before.split(b"\r\n"), after.split(b"\r\n")
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    return a[head:len(a) - tail], b[head:len(b) - tail]


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_set_header_changes_only_its_line(path):
    data = read(path)
    with libsip.Message.parse(data) as msg:
        had = bool(msg.headers.getall("Max-Forwards"))
        msg.set_header("Max-Forwards", 42)
        old, new = changed(data, bytes(msg))
    assert new == [b"Max-Forwards: 42"]
    if had:
        assert len(old) == 1 and old[0].lower().split(b":")[0].strip() == b"max-forwards"
    else:
        # A message without one (a response) gains the one line and loses nothing.
        assert old == []


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_prepend_via_adds_only_its_line(path):
    data = read(path)
    via = b"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKparity"
    with libsip.Message.parse(data) as msg:
        msg.prepend_header("Via", via[5:].decode())
        out = bytes(msg)
    start = data.index(b"\r\n") + 2
    assert out == data[:start] + via + b"\r\n" + data[start:]
