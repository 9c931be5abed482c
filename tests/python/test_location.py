# SPDX-License-Identifier: MIT
"""The location service from Python: writes, lookups with aliases and domains, ordering, the
SQLite store across a restart, argument checks."""

import asyncio
import gc
import time

import pytest

import libsip
from libsip import Binding, Location, Loop


@pytest.fixture
def loop():
    lp = Loop()
    yield lp
    lp.close()
    gc.collect()
    assert libsip.live_objects()["location"] == 0
    assert libsip.live_objects()["bindings"] == 0


def _later(s=3600):
    return int(time.time()) + s


def _run(loop, coro, timeout=10):
    async def main():
        server = asyncio.ensure_future(loop.serve())
        try:
            return await asyncio.wait_for(coro, timeout)
        finally:
            loop.stop()
            await asyncio.wait_for(server, timeout)
    return asyncio.run(main())


def test_put_lookup_and_replace(loop):
    with Location(loop) as loc:
        w = loc.put("sip:alice@example.com", "sip:alice@192.0.2.1:5060", expires=_later(),
                    q=0.5, call_id="c1", cseq=1, user_agent="phone/1", path="<sip:p;lr>",
                    received="sip:198.51.100.7:5060", socket="udp:127.0.0.1:5060",
                    params=";ob")
        assert w.done  # in memory a write is durable at once
        loc.put("sip:alice@example.com", "sip:alice@192.0.2.2", expires=_later())
        # An equal Contact URI replaces (RFC 3261 §19.1.4: scheme and host without case).
        loc.put("sip:alice@example.com", "SIP:alice@192.0.2.1:5060", expires=_later(), q=0.5,
                cseq=2)
        assert loc.count == 2 and loc.aor_count == 1
        found = loc.lookup_now("sip:alice@example.com;transport=tcp")
        assert [b.contact for b in found] == ["sip:alice@192.0.2.2", "SIP:alice@192.0.2.1:5060"]
        b = found[1]
        assert isinstance(b, Binding)
        assert (b.aor, b.q, b.cseq, b.call_id) == ("sip:alice@example.com", 0.5, 2, "")
        assert found[0].q is None
        assert "Binding sip:alice@example.com" in repr(b)
        # An instance with a reg-id replaces whatever the contact (RFC 5626 §6).
        for port in (5060, 6000):
            loc.put("sip:bob@example.com", f"sip:bob@192.0.2.9:{port};ob", expires=_later(),
                    instance="<urn:uuid:1>", reg_id=1, conn_id=7)
        got = loc.lookup_now("sip:bob@example.com")
        assert len(got) == 1 and got[0].contact.endswith(":6000;ob") and got[0].conn_id == 7
        assert (got[0].instance, got[0].reg_id) == ("<urn:uuid:1>", 1)
        # remove one, then all.
        loc.remove("sip:alice@example.com", "sip:alice@192.0.2.2")
        assert loc.count == 2
        loc.remove("sip:alice@example.com")
        assert loc.lookup_now("sip:alice@example.com") == []
        # An expiry in the past removes.
        loc.put("sip:bob@example.com", "sip:x@192.0.2.9", expires=0,
                instance="<urn:uuid:1>", reg_id=1)
        assert loc.count == 0
        assert loc.expire() == 0


def test_async_lookup_put_remove(loop):
    loc = Location(loop)

    async def go():
        await loc.put("sip:carol@example.com", "sip:carol@192.0.2.3", expires=_later())
        found = await loc.lookup("sip:carol@example.com")
        assert [b.contact for b in found] == ["sip:carol@192.0.2.3"]
        assert await loc.lookup("sip:nobody@example.com") == []
        await loc.remove("sip:carol@example.com")
        return loc.count

    assert _run(loop, go()) == 0
    loc.close()
    loc.close()
    with pytest.raises(libsip.ClosedError):
        loc.put("sip:a@example.com", "sip:a@192.0.2.1", expires=_later())
    assert loc.closed and repr(loc) == "<Location closed>"


def test_domains_aliases_and_keys(loop):
    loc = Location(loop)
    assert loc.domain_count == 0 and loc.is_local("anything.org")
    loc.add_domain("example.com")
    loc.add_domain("sip.example.com", "example.com")
    with pytest.raises(libsip.Error):
        loc.add_domain("example.com")
    with pytest.raises(libsip.InvalidError):
        loc.add_domain("x.org", "unknown.org")
    assert loc.domain_count == 2
    assert loc.is_local("SIP.example.com") and not loc.is_local("example.org")
    assert loc.aor("sips:%61lice:pw@SIP.example.com:5061;transport=tls") == \
        "sip:alice@example.com"
    assert loc.aor(libsip.Uri("sip:bob@example.org:5080")) == "sip:bob@example.org:5080"
    with pytest.raises(libsip.UriError):
        loc.aor("tel:+15551234")
    with pytest.raises(libsip.UriError):
        loc.aor("sip:example.com")
    loc.put("sip:alice@sip.example.com", "sip:alice@192.0.2.1", expires=_later())
    loc.add_alias("sip:1000@example.com", "sip:alice@example.com")
    with pytest.raises(libsip.Error):
        loc.add_alias("sip:1000@example.com", "sip:bob@example.com")
    assert [b.aor for b in loc.lookup_now("sip:1000@sip.example.com")] == \
        ["sip:alice@example.com"]
    loc.remove_alias("sip:1000@example.com")
    with pytest.raises(libsip.NotFoundError):
        loc.remove_alias("sip:1000@example.com")
    assert loc.lookup_now("sip:1000@example.com") == []
    loc.close()


def test_ordering_by_q_then_most_recent(loop):
    loc = Location(loop)
    for contact, q, updated in (("sip:a@h", 0.5, 10), ("sip:b@h", 1.0, 10),
                                ("sip:c@h", 0.5, 30), ("sip:d@h", 0.1, 40)):
        loc.put("sip:o@example.com", contact, expires=_later(), q=q, updated=updated)
    assert [b.contact for b in loc.lookup_now("sip:o@example.com")] == \
        ["sip:b@h", "sip:c@h", "sip:a@h", "sip:d@h"]
    loc.close()


def test_argument_checks(loop):
    loc = Location(loop)
    with pytest.raises(TypeError):
        Location("not a loop")
    with pytest.raises(TypeError):
        Location(loop, unknown=1)
    with pytest.raises(TypeError):
        Location(loop, batch_ms="2")
    with pytest.raises(TypeError):
        loc.put("sip:a@example.com", "sip:a@h", expires="soon")
    with pytest.raises(TypeError):
        loc.put("sip:a@example.com", 5, expires=_later())
    with pytest.raises(libsip.InvalidError):
        loc.put("sip:a@example.com", "sip:a@h", expires=_later(), q=1.5)
    with pytest.raises(libsip.UriError):
        loc.put("tel:+1555", "sip:a@h", expires=_later())
    with pytest.raises(libsip.UriError):
        loc.put("sip:a@example.com", "not a uri", expires=_later())
    with pytest.raises(libsip.UriError):
        loc.lookup_now("sip:example.com")
    with pytest.raises(TypeError):
        loc.is_local(5)
    with pytest.raises(libsip.Error) as e:
        Location(loop, db_path="/nonexistent-dir/x/location.db")
    assert e.value.name == "SIP_EIO"
    loc.close()


def test_sqlite_keeps_bindings_across_a_restart(loop, tmp_path):
    db = str(tmp_path / "location.db")
    loc = Location(loop, db_path=db, batch_ms=1)

    async def go():
        w = loc.put("sip:p@example.com", "sip:p@192.0.2.1", expires=_later(), q=0.25,
                    instance="<urn:uuid:2>", reg_id=3, conn_id=9, path="<sip:edge;lr>")
        assert not w.done  # acknowledged only once committed
        await w
        assert w.done
        writes = [loc.put(f"sip:u{i}@example.com", "sip:u@192.0.2.1", expires=_later())
                  for i in range(100)]
        await asyncio.gather(*(asyncio.ensure_future(_awaitable(w)) for w in writes))
        await loc.remove("sip:u0@example.com")

    _run(loop, go())
    # Writes left queued at close are committed by it.
    loc.put("sip:late@example.com", "sip:late@192.0.2.1", expires=_later())
    loc.close()
    with Location(loop, db_path=db) as again:
        assert again.count == 101
        b = again.lookup_now("sip:p@example.com")[0]
        assert (b.q, b.instance, b.reg_id, b.path) == (0.25, "<urn:uuid:2>", 3, "<sip:edge;lr>")
        assert b.conn_id == 0  # a connection does not outlive the process
        assert again.lookup_now("sip:u0@example.com") == []
        assert len(again.lookup_now("sip:late@example.com")) == 1


async def _awaitable(w):
    await w


# ---- the Redis store (a redis-server of its own on 127.0.0.1:50300, no persistence) ----------

REDIS_PORT = 50300


@pytest.fixture
def redis():
    import socket
    import subprocess
    p = subprocess.Popen(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < end, "redis-server did not start"
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{REDIS_PORT}"
    finally:
        p.kill()
        p.wait()


def test_redis_shares_bindings_between_nodes(loop, redis):
    a = Location(loop, redis_url=redis)
    b = Location(loop, redis_url=redis)

    async def until(cond):
        while not cond():
            await asyncio.sleep(0.01)

    async def go():
        w = a.put("sip:r@example.com", "sip:r@192.0.2.1", expires=_later(), q=0.5,
                  instance="<urn:uuid:7>", reg_id=1, conn_id=4, user_agent="ua/1")
        assert not w.done  # acknowledged once Redis has it
        await w
        await until(lambda: b.count == 1)
        found = b.lookup_now("sip:r@example.com")
        assert (found[0].contact, found[0].q, found[0].instance, found[0].user_agent) == \
            ("sip:r@192.0.2.1", 0.5, "<urn:uuid:7>", "ua/1")
        assert found[0].conn_id == 0  # a connection is the node's own
        await b.remove("sip:r@example.com")
        await until(lambda: a.count == 0)

    _run(loop, go())
    # A node that starts later loads what is there.
    a.put("sip:s@example.com", "sip:s@192.0.2.2", expires=_later())
    a.close()  # commits the write in flight
    with Location(loop, redis_url=redis) as c:
        assert [x.contact for x in c.lookup_now("sip:s@example.com")] == ["sip:s@192.0.2.2"]
    b.close()


def test_redis_argument_checks(loop):
    with pytest.raises(TypeError):
        Location(loop, redis_url=5)
    with pytest.raises(libsip.InvalidError):
        Location(loop, redis_url="http://127.0.0.1:50300")
    with pytest.raises(libsip.InvalidError):
        Location(loop, redis_url="redis://127.0.0.1:50300", db_path="/tmp/x.db")
    with pytest.raises(libsip.Error) as e:
        Location(loop, redis_url="redis://127.0.0.1:50301")  # nothing listens there
    assert e.value.name == "SIP_EIO"
