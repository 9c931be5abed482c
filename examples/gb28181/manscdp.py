# SPDX-License-Identifier: MIT
"""MANSCDP bodies (GB/T 28181-2016 Annex A): the XML that GB28181 devices and platforms send
in MESSAGE requests (Content-Type Application/MANSCDP+xml), and the SDP of its live streams
(Annex F). Shared by gb_platform.py and gb_device.py; no SIP here.

Devices write their XML in GB2312 (the declaration says so) and Python's XML parser takes no
multi-byte encoding: parse() decodes with the declared encoding first.
"""

import re
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Tuple

CONTENT_TYPE = "Application/MANSCDP+xml"
ENCODING = "GB2312"

_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_.-]+)[\"'][^>]*\?>")


Rows = List[Dict[str, str]]


def build(root: str, fields: List[Tuple[str, str]],
          items: Optional[Tuple[str, Rows]] = None) -> bytes:
    """A MANSCDP document: <root> with fields in order, and optionally a list element
    (name, [dict of fields]) with its Num attribute. Encoded in GB2312 as devices send it."""
    el = ET.Element(root)
    for k, v in fields:
        ET.SubElement(el, k).text = str(v)
    if items is not None:
        name, rows = items
        lst = ET.SubElement(el, name, Num=str(len(rows)))
        for row in rows:
            it = ET.SubElement(lst, "Item")
            for k, v in row.items():
                ET.SubElement(it, k).text = str(v)
    text = ET.tostring(el, encoding="unicode")
    return f'<?xml version="1.0" encoding="{ENCODING}"?>\r\n{text}\r\n'.encode(ENCODING)


def is_manscdp(content_type: object) -> bool:
    """Whether a message's content_type (a libsip MediaType, a str, or None) is MANSCDP's
    (media types compare without case, RFC 2045 §5.1)."""
    return str(content_type or "").lower() == CONTENT_TYPE.lower()


def parse(body: bytes) -> ET.Element:
    """The root element of a MANSCDP body in any encoding its declaration names (GB2312,
    GBK, UTF-8). Raises ValueError for one that is not XML."""
    m = _DECL.match(body)
    enc = m.group(1).decode("ascii") if m else "utf-8"
    try:
        text = body[m.end():] if m else body
        return ET.fromstring(text.decode(enc, errors="replace"))
    except (LookupError, ET.ParseError) as e:
        raise ValueError(f"not a MANSCDP body: {e}") from None


def text(el: ET.Element, name: str, default: str = "") -> str:
    """The text of a child element, stripped, or default."""
    c = el.find(name)
    return (c.text or "").strip() if c is not None else default


def items(el: ET.Element, list_name: str) -> List[Dict[str, str]]:
    """The <Item> children of a list element as dicts of their fields' text."""
    lst = el.find(list_name)
    if lst is None:
        return []
    return [{c.tag: (c.text or "").strip() for c in it} for it in lst.findall("Item")]


def play_sdp(username: str, address: str, port: int, ssrc: str, fmt: str,
             direction: str) -> str:
    """A live-stream (s=Play) description of GB/T 28181-2016 Annex F: PS over RTP on port,
    the SSRC in y= and the media format in f=. direction: recvonly for the media server's
    offer, sendonly for the device's answer."""
    return ("v=0\r\n"
            f"o={username} 0 0 IN IP4 {address}\r\n"
            "s=Play\r\n"
            f"c=IN IP4 {address}\r\n"
            "t=0 0\r\n"
            f"m=video {port} RTP/AVP 96 97 98\r\n"
            f"a={direction}\r\n"
            "a=rtpmap:96 PS/90000\r\n"
            "a=rtpmap:97 MPEG4/90000\r\n"
            "a=rtpmap:98 H264/90000\r\n"
            f"y={ssrc}\r\n"
            f"f={fmt}\r\n")
