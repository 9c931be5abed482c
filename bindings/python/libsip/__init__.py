# SPDX-License-Identifier: MIT
"""libsip for Python: SIP messages, URIs, SDP, the event loop, transports and a small Stack.

    import libsip
    msg = libsip.Message.parse(data)
    msg.method, msg.uri.host, msg.headers["Via"][0].branch, str(msg)

    with libsip.Stack(listen=["udp:127.0.0.1:5060"]) as stack:
        @stack.on_request("OPTIONS")
        def options(req):
            req.reply(200)
        stack.run()

    with libsip.Stack(listen=["udp:127.0.0.1:5060"], transactions=True) as stack:
        rsp = await stack.request(libsip.Message.request("OPTIONS", uri, headers=...))

    ua = libsip.UA(stack)                          # calls: INVITE sessions and dialogs
    call = await ua.invite("sip:bob@127.0.0.1:5070", sdp=offer)
    await call.hangup()

The generated module libsip._core is the flat C API (private); this package is the layer meant
for scripts. Log lines of every loop go to logging.getLogger("libsip").
"""

from . import _core
from .calls import (UA, Bridge, BridgeLeg, Call, CallFailed, CallState, Dialog,
                    DialogState)
from ._errors import (BodyError, ClosedError, Error, InvalidError, NotFoundError, ParseError,
                      SdpError, TransactionError, UriError)
from .live import live_objects
from .oa import NotAcceptableError, OaState, OfferAnswer
from .loop import TRACE, LogLevel, Loop, SignalWatch, Timer
from .message import (Address, Auth, CSeq, Header, HeaderKind, Headers, MediaType, Message,
                      Method, NetInfo, Number, RAck, Token, TransportType, Uri, Via, branch,
                      call_id, status_phrase, tag)
from .sdp import Connection, Direction, Media, Multipart, Origin, RtpMap, Sdp
from .stack import Request, Stack
from .reg import RegEvent, RegState, Registration, RegistrationFailed
from .sub import Notify, SubState, Subscription, SubscriptionFailed, refer_target
from .transport import HandlerPriority, Resolver, ResolveOp, SendOp, Transport
from .txn import ClientTransaction, ServerTransaction, TxnEvent, TxnLayer, TxnState

__all__ = [
    "Address", "Auth", "BodyError", "CSeq", "ClientTransaction", "ClosedError", "Connection",
    "Direction", "Error", "Header", "HeaderKind", "Headers", "InvalidError", "LogLevel",
    "Loop", "Media", "MediaType", "Message", "Method", "Multipart", "NetInfo", "NotFoundError",
    "Number", "Origin", "ParseError", "RAck", "Request", "ResolveOp", "Resolver", "RtpMap",
    "Sdp", "SdpError", "SendOp", "ServerTransaction", "SignalWatch", "Stack", "TRACE", "Timer",
    "Token", "TransactionError", "Transport", "TransportType", "TxnEvent", "TxnLayer",
    "TxnState", "Uri", "UriError", "Via", "branch", "call_id", "live_objects", "status_phrase",
    "tag",
    "HandlerPriority",
]
__all__ += ["NotAcceptableError", "OaState", "OfferAnswer"]
__all__ += ["Bridge", "BridgeLeg", "Call", "CallFailed", "CallState", "Dialog", "DialogState",
            "UA"]
# Digest authentication (libsip.auth): the client's credential store and the server's checks.
from . import auth  # noqa: E402
from .auth import (Algorithm, AuthCheck, AuthClient, AuthError, AuthServer,  # noqa: E402
                   Verdict)
__all__ += ["Algorithm", "AuthCheck", "AuthClient", "AuthError", "AuthServer", "Verdict"]
__all__ += ["RegEvent", "RegState", "Registration", "RegistrationFailed"]
__all__ += ["Notify", "SubState", "Subscription", "SubscriptionFailed", "refer_target"]
# The location service (libsip.location): bindings of AORs to contacts, in memory or on SQLite.
from .location import Binding, Location  # noqa: E402
__all__ += ["Binding", "Location"]
# The registrar and the user table (libsip.registrar).
from . import registrar  # noqa: E402
from .registrar import Registrar, UserDB  # noqa: E402
__all__ += ["Registrar", "UserDB"]
# Proxies and routing programs (libsip.proxy): the proxy core and the API a route function uses.
from .proxy import Branch, Outcome, Proxy, ProxyRequest  # noqa: E402
__all__ += ["Branch", "Outcome", "Proxy", "ProxyRequest"]
# Counters per loop and the /metrics endpoint (libsip.stats); loop.stats() reads the counters.
from .stats import Metrics  # noqa: E402
__all__ += ["Metrics"]
# Per-source limits against abuse (libsip.guard): Transport.guard, Proxy(guard=).
from .guard import Guard  # noqa: E402
__all__ += ["Guard"]
# The configuration and the server sipd runs (libsip.server).
from .server import Config, ConfigError, Server  # noqa: E402
__all__ += ["Config", "ConfigError", "Server"]
# Worker processes serving one endpoint and their hub (libsip.worker).
from .worker import Hub, Worker  # noqa: E402
__all__ += ["Hub", "Worker"]
