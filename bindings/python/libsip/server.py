# SPDX-License-Identifier: MIT
"""The configuration and the server `sipd` runs (sip/config.h, sip/server.h), for scripts.

    cfg = libsip.Config("sipd.yaml")            # the embedded defaults, then the file
    cfg["log.level"] = "info"

    async def route(req):                        # a libsip.ProxyRequest
        if req.method == "REGISTER":
            return req.default_route()
        req.proxy(await req.lookup(), record_route=True)

    with libsip.Server(cfg, route=route, listen=["udp:127.0.0.1:5060"]) as srv:
        srv.run()                                # or: await srv.serve()

Keys are the configuration file's dotted paths ("listen", "tls.cert", "limits.rate"); as
keyword arguments the first dot may be written "_" (tls_cert=..., log_level=...). An unknown
key, or a value the key does not take, raises ConfigError saying which (and where, for a
file). The server's parts (proxy, location, registrar, users, the stack with its loop,
transport and transaction layer) are the ones it made: nothing is created twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import traceback
import types
import weakref
from typing import (Any, Callable, Dict, Generator, Iterator, List, Mapping, Optional,
                    Union)

from . import _core as _c
from ._base import safe_repr
from ._errors import ClosedError, Error, InvalidError, error
from .location import Location
from .loop import Loop, Timer, release
from .proxy import Proxy, ProxyRequest
from .registrar import Registrar, UserDB
from .stack import Stack
from .transport import Transport
from .txn import TxnLayer

logger = logging.getLogger("libsip")

_ECONFIG = _c.SIP_ECONFIG


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else (v or "")


class ConfigError(Error):
    """A configuration was refused (SIP_ECONFIG): ``key`` (the key at fault, "" when none),
    ``reason``, and where in the file: ``line`` and ``column`` (0 when not tied to a line)."""

    def __init__(self, code: int = _ECONFIG, reason: str = "", line: int = 0, column: int = 0,
                 key: str = "", name: str = "") -> None:
        self.reason = reason
        self.line = line
        self.column = column
        self.key = key
        # libsip's reason names the file, line and key when it has them.
        text = reason or _c.sip_strerror(code)
        if name and line and name not in text:
            text = f"{name}:{line}: {text}"
        if key and key not in text:
            text = f"{key}: {text}"
        super().__init__(code, text)


def _config_error(rc: int, err: Any, name: str = "", what: str = "") -> Error:
    if rc == _c.SIP_ENOMEM:
        raise MemoryError(_c.sip_strerror(rc))
    if rc != _ECONFIG:
        reason = _text(err.reason) if err is not None else ""
        return error(rc, reason or (f"{what}: {_c.sip_strerror(rc)}" if what else None))
    if err is None:
        return ConfigError(rc, what or _c.sip_strerror(rc))
    return ConfigError(rc, _text(err.reason) or what, err.line, err.column, _text(err.header),
                       name)


def _value_text(key: str, v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return v
    raise TypeError(f"{key}: a value is a str, int, float or bool, not {type(v).__name__}")


def _flatten(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple]:
    """(dotted key, value) of a mapping whose values may be mappings of the sections."""
    for k, v in values.items():
        if not isinstance(k, str):
            raise TypeError(f"a configuration key is a str, not {type(k).__name__}")
        if isinstance(v, Mapping):
            yield from _flatten(v, prefix + k + ".")
        else:
            yield prefix + k, v


class Config:
    """A configuration of a server (sip_config_t): the embedded defaults, then what load(),
    load_text() and set()/add() change; check() says whether it holds together. Keys are the
    file's dotted paths (Config.keys() lists them; docs/SIPD.md says what each takes):

        cfg = libsip.Config("sipd.yaml")
        cfg.set("listen", ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"])
        cfg["limits.rate"] = 50
        cfg.check()

    Values read back are text, as in the file: a str for a scalar key, a list of str for a list
    key (listen, domains, limits.allow). Errors raise ConfigError with the key, the reason and,
    for a file, its line and column."""

    __slots__ = ("_h", "__weakref__")

    def __init__(self, path: Optional[str] = None, values: Optional[Mapping[str, Any]] = None
                 ) -> None:
        self._h: Any = None
        rc, h = _c.sip_config_create()
        if rc < 0:
            raise error(rc)
        self._h = h
        if path is not None:
            self.load(path)
        if values is not None:
            self.update(values)

    @classmethod
    def _adopt(cls, h: Any) -> "Config":
        c = object.__new__(cls)
        c._h = h
        return c

    def _handle(self) -> Any:
        return self._h

    def __del__(self, _unref: Any = _c.sip_config_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            _unref(h)

    # -- reading files ------------------------------------------------------------------------

    def load(self, path: str) -> "Config":
        """Reads a YAML file: each key it sets replaces the value held (a list the whole
        list). On error nothing changes and ConfigError says where (OSError for a file that
        cannot be read). Returns self."""
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {type(path).__name__}")
        rc, err = _c.sip_config_load(self._h, path)
        if rc < 0:
            if rc != _ECONFIG and rc > -1000:
                raise OSError(-rc, f"cannot read the configuration {path!r}: "
                                   f"{_c.sip_strerror(rc)}", path)
            raise _config_error(rc, err, path, f"cannot read {path!r}")
        return self

    def load_text(self, text: Union[str, bytes], name: str = "<text>") -> "Config":
        """As load(), from YAML text; name is what errors call it. Returns self."""
        if not isinstance(text, (str, bytes)):
            raise TypeError(f"text must be a str or bytes, not {type(text).__name__}")
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        rc, err = _c.sip_config_load_text(self._h, text, name)
        if rc < 0:
            raise _config_error(rc, err, name)
        return self

    # -- keys -------------------------------------------------------------------------------

    @staticmethod
    def keys() -> List[str]:
        """Every known key, in the order docs/SIPD.md lists them."""
        out = []
        i = 0
        while True:
            k = _c.sip_config_key_at(i)
            if k is None:
                return out
            out.append(k)
            i += 1

    def _key(self, key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(f"a configuration key is a str, not {type(key).__name__}")
        if key not in _known():
            raise ConfigError(_ECONFIG, "unknown key", key=key)
        return key

    def is_list(self, key: str) -> bool:
        """True for a list key (listen, domains, limits.allow)."""
        return _is_list(self._key(key))

    def get(self, key: str) -> Union[str, List[str]]:
        """The value of a key as text: a str, or a list of str for a list key. Raises
        ConfigError for an unknown key."""
        key = self._key(key)
        h = self._h
        if _is_list(key):
            return [_text(_c.sip_config_get(h, key, i))
                    for i in range(_c.sip_config_count(h, key))]
        return _text(_c.sip_config_get(h, key, 0))

    def set(self, key: str, value: Any) -> None:
        """Sets a key, checked as the file's value would be: a str, int, float or bool, or
        for a list key a list of them (replacing the whole list); None puts the default back
        (empties a list). Raises ConfigError for an unknown key or a bad value (nothing
        changes then)."""
        key = self._key(key)
        if value is None:
            self.reset(key)
            return
        if isinstance(value, (list, tuple)):
            if not _is_list(key):
                raise ConfigError(_ECONFIG, "takes one value, not a list", key=key)
            texts = [_value_text(key, v) for v in value]
            # All or nothing: the values are tried on a copy first.
            trial = self.copy()
            _c.sip_config_reset(trial._h, key)
            for t in texts:
                trial._add(key, t)
            _c.sip_config_reset(self._h, key)
            for t in texts:
                self._add(key, t)
            return
        rc, err = _c.sip_config_set(self._h, key, _value_text(key, value))
        if rc < 0:
            raise _config_error(rc, err, what=f"bad value for {key}")

    def _add(self, key: str, text: str) -> None:
        rc, err = _c.sip_config_add(self._h, key, text)
        if rc < 0:
            raise _config_error(rc, err, what=f"bad value for {key}")

    def add(self, key: str, value: Any) -> None:
        """Appends a value to a list key. Raises ConfigError for a scalar or unknown key or
        a bad value."""
        key = self._key(key)
        self._add(key, _value_text(key, value))

    def reset(self, key: str) -> None:
        """Empties a list key, or puts a scalar key back to its default."""
        key = self._key(key)
        rc = _c.sip_config_reset(self._h, key)
        if rc < 0:
            raise _config_error(rc, None, what="unknown key")

    def update(self, values: Mapping[str, Any]) -> None:
        """set() for each item; a value that is a mapping is a section ({"tls": {"cert":
        ...}} sets "tls.cert")."""
        if not isinstance(values, Mapping):
            raise TypeError(f"values must be a mapping, not {type(values).__name__}")
        for k, v in _flatten(values):
            self.set(k, v)

    def check(self) -> None:
        """Checks the whole (what no single key can say: TLS files present and readable, a
        tls: listening point with its certificate, a script ending in .py or .lua...).
        Raises ConfigError naming the key."""
        rc, err = _c.sip_config_check(self._h)
        if rc < 0:
            raise _config_error(rc, err)

    def copy(self) -> "Config":
        """An independent copy."""
        rc, h = _c.sip_config_clone(self._h)
        if rc < 0:
            raise error(rc)
        return Config._adopt(h)

    def format(self) -> str:
        """The configuration as YAML (every key, defaults included)."""
        rc, text = _c.sip_config_format(self._h)
        if rc < 0:
            raise error(rc)
        return _text(text)

    __str__ = format

    def __getitem__(self, key: str) -> Union[str, List[str]]:
        return self.get(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in _known()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    @safe_repr
    def __repr__(self) -> str:
        return f"<Config listen={self.get('listen')}>"


_KNOWN: List[str] = []
_LISTS: Dict[str, bool] = {}


def _known() -> List[str]:
    if not _KNOWN:
        _KNOWN.extend(Config.keys())
    return _KNOWN


def _is_list(key: str) -> bool:
    """Whether a key holds a list: reset empties a list and gives a scalar its default."""
    v = _LISTS.get(key)
    if v is None:
        rc, h = _c.sip_config_create()
        if rc < 0:
            raise error(rc)
        try:
            _c.sip_config_reset(h, key)
            v = _LISTS[key] = _c.sip_config_count(h, key) == 0
        finally:
            _c.sip_config_unref(h)
    return v


def _keyword_key(name: str) -> str:
    """A keyword argument's key: itself when known, else its first "_" read as a dot."""
    if name in _known():
        return name
    if "_" in name:
        dotted = name.replace("_", ".", 1)
        if dotted in _known():
            return dotted
    raise ConfigError(_ECONFIG, "unknown key", key=name)


def _make_config(config: Any, keys: Mapping[str, Any]) -> Config:
    if config is None:
        cfg = Config()
    elif isinstance(config, Config):
        cfg = config.copy()
    elif isinstance(config, str):
        cfg = Config(config)
    elif isinstance(config, Mapping):
        cfg = Config(values=config)
    else:
        raise TypeError("config must be a libsip.Config, a file name, a mapping or None, not "
                        f"{type(config).__name__}")
    for k, v in keys.items():
        cfg.set(_keyword_key(k), v)
    return cfg


# ---- the route of a server: eager coroutines -------------------------------------------------


class _Resume:
    """The rest of a coroutine that was stepped once outside any task and is waiting on
    ``first`` (what it yielded): a Task awaiting this waits on that, then drives the
    coroutine on, as if it had run in the task from the start."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Any, first: Any) -> None:
        self.coro, self.first = coro, first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, y = self.coro, self.first
        self.coro = self.first = None
        while True:
            try:
                sent = yield y
            except BaseException as e:  # noqa: B902 - handed to the coroutine, as a task does
                try:
                    y = coro.throw(e)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    y = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _await_rest(rest: _Resume) -> Any:
    return await rest


_new_object = object.__new__

# What a route stepped at once "yielded" when it returned instead.
_RETURNED = object()
_Coroutine = types.CoroutineType


class _ServerProxy(Proxy):
    """The server's proxy, with its route stepped eagerly: a coroutine runs at once in the
    route callback up to its first real wait, so a route that decides without waiting (the
    common case: relay and return) costs no task and no turn of asyncio."""

    def _incoming(self, req: Any) -> None:
        # req holds a reference already (sipbind_server_set_route_req's trampoline).
        _on_route(weakref.ref(self), req)


def _on_route(wproxy: "weakref.ref[_ServerProxy]", req: Any) -> None:
    """The server's route callback: req is the request alone, with a reference of its own. The
    route runs in this frame (no second call per request)."""
    self = wproxy()
    if self is None or self._h is None:
        _c.sip_proxy_req_unref(req)
        return
    # ProxyRequest._new() inlined: this runs for every request.
    r = _new_object(ProxyRequest)
    r._h = req
    r._proxy = self
    r._msg = None
    r._relay = None
    r._last = None
    r._route_over = False
    r._delegated = False
    r._answered = False
    fn = self._route
    if fn is None:
        r._delegated = True
        _c.sip_proxy_route_default(r._h)
        r._closed()
        return
    self._reqs.add(r)
    try:
        res = fn(r)
        if type(res) is _Coroutine:
            # One step, without a StopIteration when it returns (most routes do).
            first = _c.sipbind_coro_step(res, _RETURNED)
        elif res is not None and asyncio.iscoroutine(res):
            try:
                first = res.send(None)
            except StopIteration:
                # (Outside the handler: the exception holds what the route returned.)
                first = _RETURNED
        else:
            first = _RETURNED
        if first is _RETURNED:
            # The route is over: what it returned (its relay, often) is dropped, so that
            # a relay nobody can see any more is left to the proxy.
            res = None
            if r._relay is not None:
                r._detach()
            r._finish()
            return
    except Exception:
        logger.error("exception in a libsip route\n%s", traceback.format_exc())
        r._failed()
        return

    async def guarded() -> None:
        try:
            await _await_rest(_Resume(res, first))
        except asyncio.CancelledError:
            r._failed()
            raise
        except Exception:
            logger.error("exception in a libsip route\n%s", traceback.format_exc())
            r._failed()
        else:
            r._finish()

    try:
        task = asyncio.get_running_loop().create_task(guarded())
    except RuntimeError:
        res.close()
        r._failed()
        raise RuntimeError("a route that awaits needs the server served by asyncio "
                           "(await server.serve())") from None
    self._tasks.add(task)
    task.add_done_callback(self._tasks.discard)


# ---- adopting the parts a server made ----------------------------------------------------------


def _adopt_loop(h: Any, own_log: bool) -> Loop:
    """A Loop object on an existing sip_loop_t (a New reference given). own_log: its log
    lines go to the "libsip" logger (a host program keeps its own logger: False)."""
    lp = object.__new__(Loop)
    lp._h = h
    lp.strict = False
    lp._pending = None
    lp._depth = 0
    lp._stop_pending = False
    lp._run_lock = threading.Lock()
    lp._close_after_run = False
    lp._thread = threading.get_ident()
    lp._timers = set()
    lp._signals = set()
    lp._driver = None
    if own_log:
        from .loop import _from_py, _log_line
        _c.sip_loop_set_log(h, int(_from_py(logger.getEffectiveLevel())), _log_line)
    return lp


def _adopt_stack(loop: Loop, tp_h: Any, layer_h: Any) -> Stack:
    """A Stack on the server's transport and transaction layer: its loop, transport,
    transactions, request() and ua() work; its request handlers are the server's proxy."""
    st = object.__new__(Stack)
    st._own_loop = False
    st.loop = loop
    st._requests = {}
    st._by_id = {}
    st._any = None
    st._responses = []
    st._clients = set()
    st._tasks = set()
    st._resolver = None
    st._own_resolver = False
    st._uas = weakref.WeakSet()
    tp = object.__new__(Transport)
    tp._h = _c.sip_transport_ref(tp_h)
    tp._loop = loop
    tp._handler = None
    tp._request_class = None
    tp._resolver = None
    tp._stack_owned = True
    st.transport = tp
    layer = object.__new__(TxnLayer)
    layer._h = _c.sip_txn_layer_ref(layer_h)
    layer._loop = loop
    layer._t = (500, 4000, 5000, 200)
    st._layer = layer
    return st


def _adopt_proxy(stack: Stack, h: Any, users: Optional[UserDB]) -> _ServerProxy:
    px = object.__new__(_ServerProxy)
    px._h = h
    px._stack = stack
    px._route = None
    px._reqs = set()
    px._tasks = set()
    px._keep = []
    uh = _c.sip_proxy_get_users(h)
    px._users_h = uh
    px._users = users if uh is not None else None
    px._redirect = _c.sip_proxy_get_redirect(h) == 1
    px._stateless = _c.sip_proxy_get_stateless(h) == 1
    stack.__dict__.setdefault("_proxies", set()).add(px)
    return px


def _adopt_location(loop: Loop, h: Any) -> Location:
    loc = object.__new__(Location)
    loc._loop = loop
    loc._h = _c.sip_location_ref(h)
    return loc


def _adopt_registrar(location: Optional[Location], h: Any) -> Registrar:
    r = object.__new__(Registrar)
    r._h = _c.sip_registrar_ref(h)
    r._location = location
    return r


def _adopt_users(h: Any) -> UserDB:
    u = object.__new__(UserDB)
    u._h = _c.sip_userdb_ref(h)
    return u


def _noop() -> None:
    pass


def _ptr(h: Any) -> int:
    """The address a core handle holds (0 for None), to tell two handles apart."""
    return int(h) if h is not None else 0


class Server:
    """A server as `sipd` runs it (sip_server_t): listening points, users, the location
    service, the registrar, digest authentication, the guard and the metrics endpoint, made
    from a configuration, and a proxy that routes every request with the default routing of
    `sipd`, or with a route function:

        with libsip.Server("sipd.yaml", listen=["udp:127.0.0.1:5060"]) as srv:
            def route(req):
                req.proxy("sip:pbx@192.0.2.7", record_route=True)
            srv.route = route
            srv.run()

    config: a Config (copied), a file name, a mapping of keys, or None (the embedded
    defaults); keyword arguments set keys on top (tls_cert= for "tls.cert"). An ``async def``
    route runs at once up to its first wait and continues as an asyncio task. reload()
    applies a new configuration without dropping calls, transactions or registrations;
    shutdown() ends it cleanly; close() at once. With worker (a libsip.Worker, on loop), the
    server is one worker process of several (sip_server_create_worker()): listening points
    shared, messages of the other workers passed to them, bindings from the hub. Raises
    ConfigError when the configuration is refused (the key at fault, and why)."""

    def __init__(self, config: Any = None, *, route: Optional[Callable[[ProxyRequest], Any]]
                 = None, loop: Optional[Loop] = None, worker: Any = None, **keys: Any) -> None:
        self._h: Any = None
        from .worker import _worker_handle
        wh = _worker_handle(worker)
        if wh is not None and (loop is None or worker.loop is not loop):
            raise InvalidError(_c.SIP_EINVAL, "a worker's server runs on the worker's loop "
                                              "(loop=worker.loop)")
        if loop is not None and not isinstance(loop, Loop):
            raise TypeError(f"loop must be a libsip.Loop, not {type(loop).__name__}")
        if route is not None and not callable(route):
            raise TypeError(f"route must be callable, not {type(route).__name__}")
        cfg = _make_config(config, keys)
        own = loop is None
        lp = Loop() if own else loop
        try:
            rc, h, err = _c.sip_server_create_worker(lp._handle(), cfg._h, wh)
            if rc < 0:
                raise _config_error(rc, err, what="cannot create the server")
        except BaseException:
            if own:
                lp.close()
            raise
        self._setup(h, lp, own)
        if route is not None:
            self.route = route

    @classmethod
    def _adopt(cls, h: Any, *, own_log: bool = False) -> "Server":
        """A Server object on a sip_server_t made by a host program (a New reference given):
        the host's loop, logger and parts, adopted."""
        srv = object.__new__(cls)
        srv._h = None
        loop_h = _c.sip_server_get_loop(h)
        if loop_h is None:
            _c.sip_server_unref(h)
            raise ClosedError(message="the server is closed")
        srv._setup(h, _adopt_loop(_c.sip_loop_ref(loop_h), own_log), False)
        return srv

    def _setup(self, h: Any, loop: Loop, own_loop: bool) -> None:
        self._h = h
        self._loop = loop
        self._own_loop = own_loop
        self._route_set = False
        self._done: List[Any] = []
        self._stack = _adopt_stack(loop, _c.sip_server_get_transport(h),
                                   _c.sip_server_get_layer(h))
        loc = _c.sip_server_get_location(h)
        self._location = _adopt_location(loop, loc) if loc is not None else None
        reg = _c.sip_server_get_registrar(h)
        self._registrar = _adopt_registrar(self._location, reg) if reg is not None else None
        users = _c.sip_server_get_users(h)
        self._users = _adopt_users(users) if users is not None else None
        self._proxy = _adopt_proxy(self._stack, _c.sip_proxy_ref(_c.sip_server_get_proxy(h)),
                                   self._users)

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="the server is closed")
        return h

    # -- routing ----------------------------------------------------------------------------

    @property
    def route(self) -> Optional[Callable[[ProxyRequest], Any]]:
        """The route function, fn(req) for each request (a ProxyRequest), or None for the
        default routing of `sipd`. Assigning it takes effect for new requests; requests
        already taken finish with the route that took them."""
        return self._proxy._route

    @route.setter
    def route(self, fn: Optional[Callable[[ProxyRequest], Any]]) -> None:
        self._set_route(fn)

    def _set_route(self, fn: Optional[Callable[[ProxyRequest], Any]]) -> None:
        h = self._handle()
        if fn is not None and not callable(fn):
            raise TypeError(f"the route must be callable or None, not {type(fn).__name__}")
        px = self._proxy
        if fn is None:
            rc = _c.sip_server_set_route(h, None)
            self._route_set = False
        elif not self._route_set:
            rc = _c.sipbind_server_set_route_req(h, functools.partial(_on_route,
                                                                        weakref.ref(px)))
            self._route_set = rc == 0
        else:
            rc = 0
        if rc < 0:
            raise error(rc, f"cannot set the route: {_c.sip_strerror(rc)}")
        px._route = fn

    # -- the parts --------------------------------------------------------------------------

    @property
    def proxy(self) -> Proxy:
        """The server's Proxy (sip_server_get_proxy)."""
        return self._proxy

    @property
    def stack(self) -> Stack:
        """A Stack on the server's loop, transport and transaction layer: request(), ua(),
        listen() and the rest work; its requests go to the server's proxy."""
        return self._stack

    @property
    def loop(self) -> Loop:
        """The Loop the server runs on."""
        return self._loop

    @property
    def transport(self) -> Transport:
        """The server's Transport (listening points and connections)."""
        return self._stack.transport

    @property
    def transactions(self) -> TxnLayer:
        """The server's transaction layer."""
        return self._stack._layer  # type: ignore[return-value]

    @property
    def location(self) -> Optional[Location]:
        """The location service (SQLite under ``state``, else in memory)."""
        return self._location

    @property
    def registrar(self) -> Optional[Registrar]:
        """The registrar that saves REGISTERs into the location service."""
        return self._registrar

    @property
    def users(self) -> Optional[UserDB]:
        """The user table (the ``users`` file), or None without one."""
        return self._users

    @property
    def guard(self) -> Any:
        """The guard (per-source rate and authentication-failure limits: a libsip.Guard whose
        options are the configuration's limits.*), or None when the configuration sets no
        limit."""
        h = _c.sip_server_get_guard(self._handle())
        if h is None:
            return None
        from .guard import Guard
        # Its options are read from the guard itself (sip_guard_get_opts): what limits.* set.
        return Guard._adopt(_c.sip_guard_ref(h), self._loop)

    @property
    def metrics(self) -> Any:
        """The metrics endpoint (``metrics.listen``: a libsip.Metrics), or None without one."""
        h = _c.sip_server_get_metrics(self._handle())
        if h is None:
            return None
        from .stats import Metrics
        m = object.__new__(Metrics)
        m._loop = self._loop
        m._h = _c.sip_metrics_ref(h)
        m._listen = _text(_c.sip_config_get(_c.sip_server_get_config(self._h),
                                            "metrics.listen", 0))
        return m

    @property
    def config(self) -> Config:
        """A copy of the configuration in force (the last one created or reloaded with)."""
        rc, h = _c.sip_config_clone(_c.sip_server_get_config(self._handle()))
        if rc < 0:
            raise error(rc)
        return Config._adopt(h)

    @property
    def addresses(self) -> List[str]:
        """The listening points as specs ("udp:127.0.0.1:5060")."""
        return self._stack.addresses

    @property
    def closed(self) -> bool:
        """True once closed (close(), or a shutdown that ended)."""
        h = self._h
        return h is None or _c.sip_server_get_loop(h) is None

    # -- operations -------------------------------------------------------------------------

    def reload(self, config: Any = None, **keys: Any) -> None:
        """Applies a new configuration (a Config, a file name, a mapping; keyword arguments on
        top) without dropping calls, transactions or registrations. A change that cannot be
        made live (mode, state) or a part that fails refuses the whole reload: nothing changes
        and ConfigError says why."""
        h = self._handle()
        cfg = _make_config(config, keys)
        rc, err = _c.sip_server_reload(h, cfg._h)
        if rc < 0:
            raise _config_error(rc, err, what="reload refused")
        # A reload may add or drop the users file, and with it the registrar: the parts
        # follow the server's.
        users = _c.sip_server_get_users(h)
        if _ptr(users) != _ptr(self._users._h if self._users is not None else None):
            self._users = _adopt_users(users) if users is not None else None
            px = self._proxy
            px._users_h = _c.sip_proxy_get_users(px._h) if px._h is not None else None
            px._users = self._users if px._users_h is not None else None
        reg = _c.sip_server_get_registrar(h)
        if _ptr(reg) != _ptr(self._registrar._h if self._registrar is not None else None):
            self._registrar = _adopt_registrar(self._location, reg) if reg is not None else None

    def shutdown(self, grace: float = 5.0,
                 on_done: Optional[Callable[["Server"], Any]] = None) -> Any:
        """Shuts down cleanly: new requests get 503; transactions in progress get grace
        seconds, then what is pending is answered or cancelled; the location service commits
        its queue; then on_done(server) runs and the server is closed (a server that made
        its own loop stops it: run() returns). Inside asyncio, returns a future that is done
        then (else None). Raises ClosedError when already closed or shutting down."""
        h = self._handle()
        if not isinstance(grace, (int, float)) or isinstance(grace, bool):
            raise TypeError(f"grace must be a number of seconds, not {type(grace).__name__}")
        if grace < 0 or grace * 1000 >= 2 ** 32:
            raise InvalidError(_c.SIP_EINVAL, f"grace must be 0 to 4294967 seconds, not {grace}")
        if on_done is not None and not callable(on_done):
            raise TypeError(f"on_done must be callable, not {type(on_done).__name__}")
        try:
            fut = asyncio.get_running_loop().create_future()
        except RuntimeError:
            fut = None
        wself = weakref.ref(self)

        def done(_srv: Any) -> None:
            me = wself()
            if me is not None:
                me._finished()
                if on_done is not None:
                    on_done(me)
                if me._own_loop and me._loop._h is not None:
                    me._loop.stop()
            if fut is not None and not fut.done():
                fut.set_result(None)

        rc = _c.sip_server_shutdown(h, int(round(grace * 1000)), done)
        if rc < 0:
            if rc == _c.SIP_ECLOSED:
                raise ClosedError(message="the server is closed or shutting down")
            raise error(rc)
        self._loop._kick()
        return fut

    def _finished(self) -> None:
        self._proxy._h and self._proxy.close()

    def run(self) -> None:
        """Runs the loop until stop(), close() or the end of a shutdown(). On the main thread,
        Ctrl-C is honoured within a quarter second (KeyboardInterrupt)."""
        self._handle()
        tick = None
        if threading.current_thread() is threading.main_thread():
            tick = Timer(self._loop, 0.25, _noop, repeat=0.25)
        try:
            self._loop.run()
        finally:
            if tick is not None:
                tick.stop()

    async def serve(self) -> None:
        """Runs inside asyncio until stop(), close() or the end of a shutdown()."""
        self._handle()
        await self._loop.serve()

    def stop(self) -> None:
        """Makes run() or serve() return."""
        self._loop.stop()

    def close(self) -> None:
        """Closes at once: requests being routed are answered 503, the location service
        commits its queue, the listening points close; the loop too when the server made it.
        Idempotent."""
        h, self._h = self._h, None
        if h is None:
            return
        px = self._proxy
        px.close()
        st = self._stack
        st._close_clients("server closed")
        _c.sip_server_close(h)
        for part in (st._layer, st.transport, self._registrar, self._location, self._users):
            ph = getattr(part, "_h", None) if part is not None else None
            if ph is not None:
                part._h = None
                _UNREF[type(part)](ph)
        _c.sip_server_unref(h)
        if self._own_loop:
            self._loop.close()

    def _release(self) -> None:
        """Drops this object's references without closing anything (the server and its
        parts belong to a host program)."""
        px = self._proxy
        px._route = None
        h, px._h = px._h, None
        if h is not None:
            _c.sip_proxy_unref(h)
        self._stack._close_clients("the script was unloaded")
        st = self._stack
        for part in (st._layer, st.transport, self._registrar, self._location, self._users):
            ph = getattr(part, "_h", None) if part is not None else None
            if ph is not None:
                part._h = None
                _UNREF[type(part)](ph)
        h, self._h = self._h, None
        if h is not None:
            _c.sip_server_unref(h)
        lp = self._loop
        lh, lp._h = lp._h, None
        if lh is not None:
            _c.sip_loop_unref(lh)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self, _unref: Any = _c.sip_server_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    @safe_repr
    def __repr__(self) -> str:
        if self.closed:
            return "<Server closed>"
        return f"<Server {self.addresses}>"


_UNREF: Dict[type, Callable[[Any], None]] = {
    TxnLayer: _c.sip_txn_layer_unref, Transport: _c.sip_transport_unref,
    Registrar: _c.sip_registrar_unref, Location: _c.sip_location_unref,
    UserDB: _c.sip_userdb_unref,
}


__all__ = ["Config", "ConfigError", "Server"]
