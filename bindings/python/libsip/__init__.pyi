# SPDX-License-Identifier: MIT
# Type hints of the libsip package: the public names, re-exported from the annotated modules.
from . import _core as _core
from ._errors import BodyError as BodyError
from ._errors import ClosedError as ClosedError
from ._errors import Error as Error
from ._errors import InvalidError as InvalidError
from ._errors import NotFoundError as NotFoundError
from ._errors import ParseError as ParseError
from ._errors import SdpError as SdpError
from ._errors import UriError as UriError
from .loop import TRACE as TRACE
from .loop import LogLevel as LogLevel
from .loop import Loop as Loop
from .loop import Timer as Timer
from .message import Address as Address
from .message import Auth as Auth
from .message import CSeq as CSeq
from .message import Header as Header
from .message import HeaderKind as HeaderKind
from .message import Headers as Headers
from .message import MediaType as MediaType
from .message import Message as Message
from .message import Method as Method
from .message import NetInfo as NetInfo
from .message import Number as Number
from .message import RAck as RAck
from .message import Token as Token
from .message import TransportType as TransportType
from .message import Uri as Uri
from .message import Via as Via
from .message import status_phrase as status_phrase
from .sdp import Connection as Connection
from .sdp import Direction as Direction
from .sdp import Media as Media
from .sdp import Multipart as Multipart
from .sdp import Origin as Origin
from .sdp import RtpMap as RtpMap
from .sdp import Sdp as Sdp
from .stack import Request as Request
from .stack import Stack as Stack
from .transport import Resolver as Resolver
from .transport import ResolveOp as ResolveOp
from .transport import SendOp as SendOp
from .transport import Transport as Transport

__all__: list[str]
