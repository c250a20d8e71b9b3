"""llmtap: send LLM spans to an llmtap server (standard library only).

Spans are queued in memory and a background thread sends them in batches to
``POST {endpoint}/api/v1/spans``. The queue is bounded: when it is full the
OLDEST span is dropped and counted. Sending retries 429/5xx answers and
connection errors with exponential backoff, honouring ``Retry-After``. The
application is never blocked and never sees an exception from this module:
every public function catches its own failures (they are counted, and logged
on the ``llmtap`` logger at DEBUG without the key).

Quick use::

    import llmtap
    client = llmtap.wrap(openai.OpenAI())          # spans for every call
    with llmtap.trace("answer", user="u1") as span:  # parent/child spans
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    llmtap.record(name="lookup", kind="tool", input={"q": 1}, output="ok")

Configuration: arguments of ``configure()`` / ``Client()``, else the
environment: LLMTAP_ENDPOINT (default http://127.0.0.1:4318), LLMTAP_KEY
(sent as the ``LLMTap-Key`` header), LLMTAP_PROJECT, LLMTAP_VERSION_SET,
LLMTAP_DISABLED=1 (everything becomes a no-op).
"""

import atexit
import contextvars
import email.utils
import functools
import inspect
import json
import logging
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections import deque

__all__ = [
    "Client",
    "Span",
    "configure",
    "get_client",
    "trace",
    "record",
    "wrap",
    "flush",
    "shutdown",
    "stats",
    "current_span",
]
__version__ = "0.1.0"

_log = logging.getLogger("llmtap")

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
RETRY_STATUSES = (408, 429, 500, 502, 503, 504, 529)
MAX_BATCH_BYTES = 4 << 20  # a batch stops growing here (it always has one span)

# The span that `trace()` made current in this thread / asyncio task.
_current = contextvars.ContextVar("llmtap_current_span", default=None)

# Fields a child span takes from its parent when it does not set them.
_INHERITED = ("user", "session", "tenant", "version_set")

_NATIVE_FIELDS = frozenset(
    (
        "trace_id span_id parent_span_id project name kind start_ns end_ns provider model "
        "response_model input output usage cost_usd latency status error user session tenant "
        "version_set prompt params tags attributes finish_reason service_name service_version "
        "service_tier replay_of"
    ).split()
)

_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _new_trace_id():
    return secrets.token_hex(16)


def _new_span_id():
    return secrets.token_hex(8)


def _jsonable(obj):
    """json.dumps fallback: pydantic-like objects, plain objects, bytes, sets."""
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            return dump()
        except Exception:
            pass
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).decode("utf-8", "replace")
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        return {k: v for k, v in d.items() if not k.startswith("_")}
    return str(obj)


def _encode(span):
    """One span as UTF-8 JSON bytes; never raises on odd values."""
    text = json.dumps(span, default=_jsonable, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "replace")  # lone surrogates become '?'


def _retry_after(value, now=None):
    """Seconds to wait from a Retry-After value (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def _parse_prompt(prompt, version=None, variables=None):
    """The native `prompt` object from "name@7", a dict, or separate parts."""
    if prompt is None and version is None and variables is None:
        return None
    out = {}
    if isinstance(prompt, dict):
        out.update(prompt)
    elif isinstance(prompt, str):
        name, sep, ver = prompt.rpartition("@")
        if sep and name:
            out["name"] = name
            out["version"] = ver
        else:
            out["name"] = prompt
    if version is not None:
        out["version"] = version
    if variables is not None:
        out["variables"] = variables
    ver = out.get("version")
    if isinstance(ver, str) and ver.strip().isdigit():
        out["version"] = int(ver.strip())
    return out or None


class Span:
    """One unit of work; fields use the native API's names (DESIGN.md section 3).

    Made by ``trace()`` (a context manager) or ``Client.span()``; set fields
    with ``set(...)``, then ``end()`` queues it (done by the ``with`` block).
    """

    def __init__(self, client, name, parent=None, **fields):
        self._client = client
        self._ended = False
        self._token = None
        self.data = {}
        self.trace_id = fields.pop("trace_id", None) or (
            parent.trace_id if parent else _new_trace_id()
        )
        self.span_id = fields.pop("span_id", None) or _new_span_id()
        self.parent_span_id = fields.pop("parent_span_id", None) or (
            parent.span_id if parent else None
        )
        self.start_ns = fields.pop("start_ns", None) or time.time_ns()
        self._start_mono = time.monotonic_ns()
        if parent is not None:
            for k in _INHERITED:
                if k in parent.data and k not in fields:
                    self.data[k] = parent.data[k]
        if name:
            self.data["name"] = name
        self.set(**fields)

    def set(self, **fields):
        """Set native fields (model, input, output, usage, user, prompt, tags...).

        ``input_tokens=``/``output_tokens=``... go into ``usage``,
        ``ttft_ms=`` into ``latency``, ``prompt_version=``/``variables=``
        into ``prompt``; names the API does not know go into ``attributes``.
        Returns the span, so calls chain.
        """
        try:
            self._set(fields)
        except Exception as e:  # never raise into the app
            _log.debug("llmtap: span.set failed: %r", e)
        return self

    def _set(self, fields):
        d = self.data
        pv = fields.pop("prompt_version", None)
        vars_ = fields.pop("variables", fields.pop("prompt_variables", None))
        if "prompt" in fields or pv is not None or vars_ is not None:
            prev = d.get("prompt") or {}
            merged = dict(prev)
            merged.update(_parse_prompt(fields.pop("prompt", None), pv, vars_) or {})
            d["prompt"] = merged or None
        for k in _USAGE_KEYS:
            if k in fields:
                d.setdefault("usage", {})[k] = fields.pop(k)
        for k in ("ttft_ms", "queue_ms", "tool_ms"):
            if k in fields:
                d.setdefault("latency", {})[k] = fields.pop(k)
        if "user_id" in fields:
            fields.setdefault("user", fields.pop("user_id"))
        if "session_id" in fields:
            fields.setdefault("session", fields.pop("session_id"))
        for k, v in fields.items():
            if k == "tags" and v is not None:
                tags = d.setdefault("tags", [])
                for t in [v] if isinstance(v, str) else v:
                    if t not in tags:
                        tags.append(str(t))
            elif k in ("usage", "latency", "attributes", "params") and isinstance(v, dict):
                d.setdefault(k, {}).update(v)
            elif k in _NATIVE_FIELDS:
                if v is None:
                    d.pop(k, None)
                else:
                    d[k] = v
            else:
                d.setdefault("attributes", {})[k] = v

    def set_error(self, exc=None, code=None, message=None):
        """Mark the span failed, from an exception or a code and message."""
        if exc is not None:
            code = code or type(exc).__name__
            message = message or str(exc)
        self.data["status"] = "error"
        self.data["error"] = {"code": code or "error", "message": message or ""}
        return self

    def to_dict(self):
        out = dict(self.data)
        out["trace_id"] = self.trace_id
        out["span_id"] = self.span_id
        if self.parent_span_id:
            out["parent_span_id"] = self.parent_span_id
        out["start_ns"] = str(self.start_ns)
        end = out.pop("end_ns", None)
        if end is None:
            end = self.start_ns + (time.monotonic_ns() - self._start_mono)
        out["end_ns"] = str(end)
        return out

    def end(self, **fields):
        """Set the last fields and queue the span (once; later calls do nothing)."""
        if self._ended:
            return
        self.set(**fields)
        self._ended = True
        self._client._submit_span(self)

    # context manager: the span is current inside the block
    def __enter__(self):
        self._token = _current.set(self)
        return self

    def __exit__(self, etype, exc, tb):
        try:
            if exc is not None and self.data.get("status") in (None, "ok"):
                if isinstance(exc, (KeyboardInterrupt, GeneratorExit)):
                    self.data["status"] = "cancelled"
                else:
                    self.set_error(exc)
            if self._token is not None:
                try:
                    _current.reset(self._token)
                except ValueError:  # exited in another context
                    _current.set(None)
                self._token = None
            self.end()
        except Exception as e:
            _log.debug("llmtap: span exit failed: %r", e)
        return False

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, etype, exc, tb):
        return self.__exit__(etype, exc, tb)

    def __repr__(self):
        return "<llmtap.Span %s %s/%s>" % (self.data.get("name"), self.trace_id, self.span_id)


class _NoopSpan(Span):
    """What trace() gives when llmtap is disabled: accepts everything, sends nothing."""

    def __init__(self):
        self.data = {}
        self.trace_id = "0" * 32
        self.span_id = "0" * 16
        self.parent_span_id = None
        self._ended = True

    def set(self, **fields):
        return self

    def set_error(self, exc=None, code=None, message=None):
        return self

    def end(self, **fields):
        pass

    def __enter__(self):
        return self

    def __exit__(self, etype, exc, tb):
        return False


class Client:
    """A queue and its sender thread. Thread-safe; most programs use the module
    functions, which share one default Client.

    Arguments (None = the environment or the default):
      endpoint, key, project, version_set, disabled: see the module doc.
      batch_size (100): spans per request; flush_interval (1.0 s): how long
      a span may wait for a batch; max_queue (10000): spans kept in memory
      (the oldest is dropped beyond it); max_retries (5): attempts after the
      first; retry_base (0.5 s) and retry_max (30 s): the backoff; timeout
      (10 s): per request; exit_timeout (5 s): how long the exit flush may
      take; at_exit (True): flush when the interpreter exits.
    """

    def __init__(
        self,
        endpoint=None,
        key=None,
        project=None,
        version_set=None,
        disabled=None,
        batch_size=100,
        flush_interval=1.0,
        max_queue=10000,
        max_retries=5,
        retry_base=0.5,
        retry_max=30.0,
        timeout=10.0,
        exit_timeout=5.0,
        at_exit=True,
    ):
        env = os.environ
        self.endpoint = (endpoint or env.get("LLMTAP_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        self._key = key if key is not None else env.get("LLMTAP_KEY") or None
        self.project = project if project is not None else env.get("LLMTAP_PROJECT") or None
        self.version_set = (
            version_set if version_set is not None else env.get("LLMTAP_VERSION_SET") or None
        )
        self.disabled = _env_flag("LLMTAP_DISABLED") if disabled is None else bool(disabled)
        self.batch_size = max(1, int(batch_size))
        self.flush_interval = max(0.01, float(flush_interval))
        self.max_queue = max(1, int(max_queue))
        self.max_retries = max(0, int(max_retries))
        self.retry_base = max(0.0, float(retry_base))
        self.retry_max = max(0.0, float(retry_max))
        self.timeout = float(timeout)
        self.exit_timeout = float(exit_timeout)
        self._url = self.endpoint + "/api/v1/spans"
        self._lock = threading.RLock()  # RLock: a stream's __del__ may submit from a GC pass
        self._wake = threading.Condition(self._lock)
        self._queue = deque()
        self._inflight = 0
        self._flush_waiters = 0
        self._closed = False
        self._thread = None
        self._pid = os.getpid()
        self.sent = 0  # spans the server stored (created or duplicate)
        self.dropped = 0  # spans dropped from a full queue (the oldest ones)
        self.failed = 0  # spans given up on: retries exhausted, or rejected
        if at_exit and not self.disabled:
            atexit.register(self._at_exit)
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: ref() is not None and ref()._after_fork())

    def _after_fork(self):
        """In a forked child: fresh locks, no sender yet, and none of the
        parent's queued spans (the parent sends those) nor counts."""
        self.sent = self.dropped = self.failed = 0
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._queue = deque()
        self._inflight = 0
        self._flush_waiters = 0
        self._thread = None
        self._pid = os.getpid()

    # -- public ----------------------------------------------------------

    def stats(self):
        """Counts so far: sent, dropped, failed, queued."""
        with self._lock:
            return {
                "sent": self.sent,
                "dropped": self.dropped,
                "failed": self.failed,
                "queued": len(self._queue) + self._inflight,
            }

    def span(self, name=None, parent=None, **fields):
        """A new Span (child of 'parent', else of the current trace span)."""
        if self.disabled:
            return _NoopSpan()
        try:
            if parent is None:
                parent = _current.get()
            return Span(self, name, parent=parent, **fields)
        except Exception as e:
            _log.debug("llmtap: span failed: %r", e)
            return _NoopSpan()

    def trace(self, name=None, **fields):
        """Context manager: ``with client.trace("step") as span:`` (nests)."""
        return self.span(name, **fields)

    def record(self, name=None, **fields):
        """Queue one finished span (an LLM call, a tool call, ...). Returns its
        span_id, or None when disabled. Accepts the native fields plus the
        shortcuts of Span.set; ``duration_ms=`` sets end_ns from start_ns."""
        if self.disabled:
            return None
        try:
            duration = fields.pop("duration_ms", None)
            s = self.span(name, **fields)
            if duration is not None and "end_ns" not in s.data:
                s.data["end_ns"] = s.start_ns + int(float(duration) * 1e6)
            s.end()
            return s.span_id
        except Exception as e:
            _log.debug("llmtap: record failed: %r", e)
            return None

    def flush(self, timeout=None):
        """Send everything queued now; wait up to 'timeout' seconds (None = no
        limit) until the queue is empty. Returns True when it is."""
        if self.disabled:
            return True
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            with self._lock:
                if self._closed:
                    return not (self._queue or self._inflight)
                self._ensure_thread()
                self._flush_waiters += 1
                try:
                    self._wake.notify_all()
                    while self._queue or self._inflight:
                        left = None if deadline is None else deadline - time.monotonic()
                        if left is not None and left <= 0:
                            return False
                        self._wake.wait(0.05 if left is None else min(left, 0.05))
                    return True
                finally:
                    self._flush_waiters -= 1
        except Exception as e:
            _log.debug("llmtap: flush failed: %r", e)
            return False

    def shutdown(self, timeout=None):
        """Flush (up to 'timeout' s, default exit_timeout) and stop the thread."""
        if self.disabled:
            return True
        ok = self.flush(self.exit_timeout if timeout is None else timeout)
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        try:
            atexit.unregister(self._at_exit)
        except Exception:
            pass
        return ok

    # -- queue -----------------------------------------------------------

    def _submit_span(self, span):
        try:
            d = span.to_dict()
            if self.project and "project" not in d:
                d["project"] = self.project
            if self.version_set and "version_set" not in d:
                d["version_set"] = self.version_set
            self._enqueue(_encode(d))
        except Exception as e:
            _log.debug("llmtap: cannot queue span: %r", e)

    def _enqueue(self, body):
        with self._lock:
            if self._closed:
                self.failed += 1
                return
            self._ensure_thread()
            while len(self._queue) >= self.max_queue:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(body)
            if len(self._queue) >= self.batch_size:
                self._wake.notify_all()

    def _ensure_thread(self):
        """Start the sender (again after a fork: threads do not survive it)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._thread = None
            self._inflight = 0
        if self._thread is None or not self._thread.is_alive():
            t = threading.Thread(target=self._run, name="llmtap-sender", daemon=True)
            self._thread = t
            t.start()

    def _take_batch(self):
        """Wait for a full batch, the interval, a flush or close; pop a batch."""
        with self._lock:
            deadline = time.monotonic() + self.flush_interval
            while not self._closed:
                if len(self._queue) >= self.batch_size or (self._flush_waiters and self._queue):
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    if self._queue:
                        break
                    deadline = time.monotonic() + self.flush_interval
                    left = self.flush_interval
                self._wake.wait(left)
            if self._closed and not self._queue:
                return None
            batch = []
            size = 0
            while self._queue and len(batch) < self.batch_size:
                if batch and size + len(self._queue[0]) > MAX_BATCH_BYTES:
                    break
                size += len(self._queue[0]) + 1
                batch.append(self._queue.popleft())
            self._inflight = len(batch)
            return batch

    def _run(self):
        while True:
            try:
                batch = self._take_batch()
            except Exception:
                return
            if batch is None:
                return
            try:
                sent, failed = self._send(batch)
            except Exception as e:  # a bug here must not kill the thread
                _log.debug("llmtap: send failed: %r", e)
                sent, failed = 0, len(batch)
            with self._lock:
                self.sent += sent
                self.failed += failed
                self._inflight = 0
                self._wake.notify_all()

    # -- sending ---------------------------------------------------------

    def _post(self, body):
        """One POST. Returns (status, headers, body bytes); status 0 = no answer."""
        headers = {"Content-Type": "application/json", "User-Agent": "llmtap-python/" + __version__}
        if self._key:
            headers["LLMTap-Key"] = self._key
        req = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            try:
                data = e.read()
            except Exception:
                data = b""
            return e.code, e.headers, data
        except Exception as e:  # refused, reset, timeout, DNS...
            _log.debug("llmtap: cannot reach %s: %s", self._url, type(e).__name__)
            return 0, None, b""

    def _backoff(self, attempt, headers):
        """Exponential from retry_base, or the server's Retry-After; at most retry_max."""
        ra = _retry_after(headers.get("Retry-After")) if headers is not None else None
        delay = ra if ra is not None else self.retry_base * (2**attempt)
        return min(delay, self.retry_max)

    def _sleep(self, seconds):
        """Wait 'seconds', or less when shutting down (the exit flush is bounded)."""
        with self._lock:
            end = time.monotonic() + seconds
            while not self._closed:
                left = end - time.monotonic()
                if left <= 0:
                    return
                self._wake.wait(left)

    def _send(self, batch):
        """Send 'batch' (encoded spans) with retries. Returns (sent, failed)."""
        pending = batch
        sent = 0
        for attempt in range(self.max_retries + 1):
            body = b"[" + b",".join(pending) + b"]"
            status, headers, data = self._post(body)
            if status in (200, 207, 400):
                ok, retry = self._read_results(data, pending)
                sent += ok
                if not retry:
                    return sent, len(pending) - ok
                failed_now = len(pending) - ok - len(retry)
                pending = retry
                if failed_now:
                    with self._lock:
                        self.failed += failed_now
            elif status != 0 and status not in RETRY_STATUSES:
                _log.debug("llmtap: server answered %d; %d spans lost", status, len(pending))
                return sent, len(pending)
            if attempt == self.max_retries:
                break
            self._sleep(self._backoff(attempt, headers))
            with self._lock:
                if self._closed and attempt > 0:
                    break
        return sent, len(pending)

    @staticmethod
    def _read_results(data, batch):
        """From a 200/207/400 answer: (stored count, spans to retry)."""
        try:
            answer = json.loads(data.decode("utf-8"))
            results = answer["results"]
        except Exception:
            return 0, []
        ok = 0
        retry = []
        for r in results:
            st = r.get("status")
            if st in ("created", "duplicate"):
                ok += 1
            elif (r.get("error") or {}).get("code") == "UNAVAILABLE":
                i = r.get("index")
                if isinstance(i, int) and 0 <= i < len(batch):
                    retry.append(batch[i])
        return ok, retry

    def _at_exit(self):
        try:
            self.shutdown(self.exit_timeout)
        except Exception:
            pass


# -- the default client and module functions -----------------------------

_default = None
_default_lock = threading.Lock()


def configure(**kwargs):
    """(Re)create the default client with these Client arguments; the old one
    is flushed and stopped. Returns the new Client."""
    global _default
    with _default_lock:
        old, _default = _default, Client(**kwargs)
    if old is not None:
        try:
            old.shutdown(old.exit_timeout)
        except Exception:
            pass
    return _default


def get_client():
    """The default client (made from the environment on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Client()
    return _default


def trace(name=None, **fields):
    """``with llmtap.trace("name", user=...) as span:`` — a span around the
    block; spans made inside (trace, record, wrapped calls) are its children."""
    return get_client().trace(name, **fields)


def record(name=None, **fields):
    """Queue one finished span; see Client.record."""
    return get_client().record(name, **fields)


def current_span():
    """The innermost span of ``trace()`` in this context, or None."""
    return _current.get()


def flush(timeout=None):
    return get_client().flush(timeout)


def shutdown(timeout=None):
    return get_client().shutdown(timeout)


def stats():
    return get_client().stats()


# -- wrapping OpenAI and Anthropic clients --------------------------------


def _get(obj, name, default=None):
    """obj.name or obj[name]: SDK objects and plain dicts alike."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _plain(obj, depth=0):
    """An SDK object as plain JSON-able data."""
    if obj is None or isinstance(obj, (str, int, float, bool)) or depth > 20:
        return obj
    if isinstance(obj, dict):
        return {str(k): _plain(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, depth + 1) for v in obj]
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            return _plain(dump(), depth + 1)
        except Exception:
            pass
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        return {k: _plain(v, depth + 1) for k, v in d.items() if not k.startswith("_")}
    return str(obj)


def _int(v):
    try:
        return int(v) if v is not None else None
    except (TypeError, ValueError):
        return None


_SKIP_PARAMS = frozenset(
    "model messages input instructions system stream stream_options tools metadata user "
    "safety_identifier extra_headers extra_query extra_body timeout".split()
)


def _params(kwargs):
    out = {}
    for k, v in kwargs.items():
        if k in _SKIP_PARAMS:
            continue
        if isinstance(v, (str, int, float, bool)) or v is None:
            if v is not None:
                out[k] = v
        elif isinstance(v, (list, dict)) and k in ("stop", "stop_sequences", "response_format"):
            out[k] = _plain(v)
    if kwargs.get("tools"):
        out["tools_count"] = len(kwargs["tools"])
    return out


def _openai_usage(u):
    if u is None:
        return None
    inp = _int(_get(u, "prompt_tokens", _get(u, "input_tokens")))
    out = _int(_get(u, "completion_tokens", _get(u, "output_tokens")))
    usage = {}
    if inp is not None:
        usage["input_tokens"] = inp
    if out is not None:
        usage["output_tokens"] = out
    pd = _get(u, "prompt_tokens_details", _get(u, "input_tokens_details"))
    cd = _get(u, "completion_tokens_details", _get(u, "output_tokens_details"))
    cached = _int(_get(pd, "cached_tokens"))
    if cached is not None:
        usage["cache_read_tokens"] = cached
    cw = _int(_get(pd, "cache_write_tokens"))
    if cw is not None:
        usage["cache_write_tokens"] = cw
    rt = _int(_get(cd, "reasoning_tokens"))
    if rt is not None:
        usage["reasoning_tokens"] = rt
    return usage or None


def _anthropic_usage(u, into=None):
    """Anthropic usage (input EXCLUDES cache) normalised: input includes cache."""
    raw = dict(into or {})
    for k in ("input_tokens", "output_tokens", "cache_read_input_tokens",
              "cache_creation_input_tokens"):
        v = _int(_get(u, k))
        if v is not None:
            raw[k] = v
    return raw


def _anthropic_usage_native(raw):
    if not raw:
        return None
    cr = raw.get("cache_read_input_tokens", 0) or 0
    cw = raw.get("cache_creation_input_tokens", 0) or 0
    usage = {}
    if "input_tokens" in raw:
        usage["input_tokens"] = raw["input_tokens"] + cr + cw
    if "output_tokens" in raw:
        usage["output_tokens"] = raw["output_tokens"]
    if "cache_read_input_tokens" in raw:
        usage["cache_read_tokens"] = cr
    if "cache_creation_input_tokens" in raw:
        usage["cache_write_tokens"] = cw
    return usage


def _openai_message(msg, finish=None):
    out = {"role": _get(msg, "role") or "assistant", "content": _get(msg, "content")}
    calls = _get(msg, "tool_calls")
    if calls:
        out["tool_calls"] = _plain(calls)
    if finish:
        out["finish_reason"] = finish
    return out


def _responses_output(items):
    text = []
    calls = []
    for it in items or ():
        t = _get(it, "type")
        if t == "message":
            for part in _get(it, "content") or ():
                if _get(part, "type") == "output_text":
                    text.append(_get(part, "text") or "")
        elif t == "function_call":
            calls.append({
                "id": _get(it, "call_id") or _get(it, "id"),
                "name": _get(it, "name"),
                "arguments": _get(it, "arguments"),
            })
    out = {"role": "assistant", "content": "".join(text) if text else None}
    if calls:
        out["tool_calls"] = calls
    return out


def _anthropic_output(blocks, stop=None):
    text = []
    calls = []
    for b in blocks or ():
        t = _get(b, "type")
        if t == "text":
            text.append(_get(b, "text") or "")
        elif t == "tool_use":
            calls.append({"id": _get(b, "id"), "name": _get(b, "name"),
                          "arguments": _plain(_get(b, "input"))})
    out = {"role": "assistant", "content": "".join(text) if text else None}
    if calls:
        out["tool_calls"] = calls
    if stop:
        out["finish_reason"] = stop
    return out


class _Call:
    """What one wrapped SDK call knows: the request, then the result."""

    def __init__(self, client, provider, op, kwargs):
        self.client = client
        self.provider = provider
        self.op = op
        self.kwargs = kwargs
        self.model = kwargs.get("model")
        self.span = client.span(
            "%s %s" % (op, self.model or ""),
            kind="embedding" if op == "embeddings" else "llm",
            provider=provider,
        )
        self._start = time.monotonic_ns()
        self.first_token_ns = None
        self.fields = {}
        self._request_fields()

    def _request_fields(self):
        k = self.kwargs
        f = {"model": self.model}
        if self.op in ("chat", "messages"):
            msgs = list(_plain(k.get("messages")) or [])
            sys_ = k.get("system")
            if sys_ is not None:
                msgs.insert(0, {"role": "system", "content": _plain(sys_)})
            f["input"] = msgs
        elif self.op == "responses":
            inp = _plain(k.get("input"))
            if k.get("instructions"):
                inp = [{"role": "system", "content": k["instructions"]}] + (
                    [{"role": "user", "content": inp}] if isinstance(inp, str) else list(inp or [])
                )
            f["input"] = inp
        elif self.op == "embeddings":
            inp = k.get("input")
            f["input"] = inp if isinstance(inp, str) else json.dumps(_plain(inp))[:65536]
        f["params"] = _params(k)
        user = k.get("user") or k.get("safety_identifier") or _get(k.get("metadata"), "user_id")
        if user and "user" not in self.span.data:
            f["user"] = user
        self.span.set(**f)

    def mark_first_token(self):
        if self.first_token_ns is None:
            self.first_token_ns = time.monotonic_ns()

    def finish(self, status="ok", exc=None):
        try:
            if self.first_token_ns is not None:
                self.fields["ttft_ms"] = (self.first_token_ns - self._start) / 1e6
            self.span.set(**{k: v for k, v in self.fields.items() if v is not None})
            if exc is not None:
                self.span.set_error(exc)
            elif status != "ok":
                self.span.set(status=status)
            self.span.end()
        except Exception as e:
            _log.debug("llmtap: recording a call failed: %r", e)

    # -- complete (non-streaming) results
    def result(self, resp):
        try:
            f = self.fields
            f["response_model"] = _get(resp, "model")
            if self.op == "chat":
                choices = _get(resp, "choices") or []
                outs = [_openai_message(_get(c, "message"), _get(c, "finish_reason"))
                        for c in choices]
                f["output"] = outs[0] if len(outs) == 1 else outs
                if choices:
                    f["finish_reason"] = _get(choices[0], "finish_reason")
                f["usage"] = _openai_usage(_get(resp, "usage"))
            elif self.op == "responses":
                self._responses_final(resp)
            elif self.op == "embeddings":
                data = _get(resp, "data") or []
                f["usage"] = _openai_usage(_get(resp, "usage"))
                dim = len(_get(data[0], "embedding") or []) if data else 0
                f["attributes"] = {"embedding.count": len(data), "embedding.dimensions": dim}
            elif self.op == "messages":
                f["output"] = _anthropic_output(_get(resp, "content"), _get(resp, "stop_reason"))
                f["finish_reason"] = _get(resp, "stop_reason")
                f["usage"] = _anthropic_usage_native(_anthropic_usage(_get(resp, "usage")))
        except Exception as e:
            _log.debug("llmtap: reading a response failed: %r", e)
        self.finish()

    def _responses_final(self, resp):
        f = self.fields
        f["response_model"] = _get(resp, "model") or f.get("response_model")
        f["output"] = _responses_output(_get(resp, "output"))
        f["usage"] = _openai_usage(_get(resp, "usage"))
        inc = _get(_get(resp, "incomplete_details"), "reason")
        st = _get(resp, "status")
        f["finish_reason"] = inc or ("stop" if st == "completed" else st)
        if st == "failed":
            err = _get(resp, "error")
            self.span.set_error(code=_get(err, "code") or "failed", message=_get(err, "message"))
        elif st == "incomplete":
            f["status"] = "degraded"


class _StreamState:
    """Accumulates stream chunks/events into the call's fields."""

    def __init__(self, call):
        self.call = call
        self.text = {}  # choice index -> [fragments]
        self.tools = {}  # (choice index, tool index) -> dict
        self.finish = {}
        self.usage = None
        self.anth_usage = {}
        self.error = None

    def feed(self, item):
        try:
            op = self.call.op
            if op == "chat":
                self._chat(item)
            elif op == "responses":
                self._responses(item)
            elif op == "messages":
                self._messages(item)
        except Exception as e:
            _log.debug("llmtap: reading a stream chunk failed: %r", e)

    def _chat(self, ch):
        f = self.call.fields
        f["response_model"] = _get(ch, "model") or f.get("response_model")
        u = _get(ch, "usage")
        if u is not None:
            self.usage = _openai_usage(u)
        for c in _get(ch, "choices") or ():
            i = _get(c, "index", 0) or 0
            d = _get(c, "delta")
            content = _get(d, "content")
            calls = _get(d, "tool_calls")
            if content or calls or _get(d, "refusal"):
                self.call.mark_first_token()
            if content:
                self.text.setdefault(i, []).append(content)
            for tc in calls or ():
                slot = self.tools.setdefault((i, _get(tc, "index", 0) or 0),
                                             {"id": None, "name": None, "arguments": ""})
                fn = _get(tc, "function")
                slot["id"] = _get(tc, "id") or slot["id"]
                slot["name"] = _get(fn, "name") or slot["name"]
                slot["arguments"] += _get(fn, "arguments") or ""
            if _get(c, "finish_reason"):
                self.finish[i] = _get(c, "finish_reason")

    def _responses(self, ev):
        t = _get(ev, "type") or ""
        if t.endswith(".delta") and t != "response.audio.delta":
            self.call.mark_first_token()
        if t == "response.output_text.delta":
            self.text.setdefault(0, []).append(_get(ev, "delta") or "")
        elif t in ("response.completed", "response.incomplete", "response.failed"):
            self.final = _get(ev, "response")
        elif t == "response.created":
            self.call.fields["response_model"] = _get(_get(ev, "response"), "model")
        elif t == "error":
            self.error = (_get(ev, "code") or "error", _get(ev, "message") or "")

    def _messages(self, ev):
        t = _get(ev, "type")
        f = self.call.fields
        if t == "message_start":
            m = _get(ev, "message")
            f["response_model"] = _get(m, "model")
            self.anth_usage = _anthropic_usage(_get(m, "usage"), self.anth_usage)
        elif t == "content_block_start":
            b = _get(ev, "content_block")
            if _get(b, "type") == "tool_use":
                self.tools[(0, _get(ev, "index", 0))] = {
                    "id": _get(b, "id"), "name": _get(b, "name"), "arguments": ""}
        elif t == "content_block_delta":
            self.call.mark_first_token()
            d = _get(ev, "delta")
            dt = _get(d, "type")
            if dt == "text_delta":
                self.text.setdefault(0, []).append(_get(d, "text") or "")
            elif dt == "input_json_delta":
                slot = self.tools.get((0, _get(ev, "index", 0)))
                if slot is not None:
                    slot["arguments"] += _get(d, "partial_json") or ""
        elif t == "message_delta":
            d = _get(ev, "delta")
            if _get(d, "stop_reason"):
                self.finish[0] = _get(d, "stop_reason")
            self.anth_usage = _anthropic_usage(_get(ev, "usage"), self.anth_usage)
        elif t == "error":
            err = _get(ev, "error")
            self.error = (_get(err, "type") or "error", _get(err, "message") or "")

    def _output(self):
        idx = sorted(set(self.text) | set(self.finish) | {i for i, _ in self.tools})
        outs = []
        for i in idx:
            text = "".join(self.text.get(i, []))
            m = {"role": "assistant", "content": text or None}
            calls = [v for (ci, _), v in sorted(self.tools.items(), key=lambda kv: kv[0])
                     if ci == i]
            if calls:
                for c in calls:
                    if self.call.op == "messages":
                        try:
                            c["arguments"] = json.loads(c["arguments"] or "{}")
                        except ValueError:
                            pass
                m["tool_calls"] = calls
            if self.finish.get(i):
                m["finish_reason"] = self.finish[i]
            outs.append(m)
        if not outs:
            return None
        return outs[0] if len(outs) == 1 else outs

    def done(self, status="ok", exc=None):
        f = self.call.fields
        final = getattr(self, "final", None)
        if final is not None:
            self.call._responses_final(final)
        else:
            f["output"] = self._output()
            if self.finish:
                f["finish_reason"] = self.finish.get(min(self.finish))
        if self.call.op == "messages":
            f["usage"] = _anthropic_usage_native(self.anth_usage)
        elif self.usage is not None and final is None:
            f["usage"] = self.usage
        if self.error and exc is None and status == "ok":
            self.call.span.set_error(code=self.error[0], message=self.error[1])
        self.call.finish(status, exc)


class _StreamBase:
    """Shared by the sync and async stream proxies: the items pass through
    untouched; the span ends once (end of stream, error, close, or GC)."""

    def _init(self, stream, call):
        self._llmtap_stream = stream
        self._llmtap_state = _StreamState(call)
        self._llmtap_done = False

    def _llmtap_end(self, status="ok", exc=None):
        if not self._llmtap_done:
            self._llmtap_done = True
            self._llmtap_state.done(status, exc)

    def __getattr__(self, name):  # .response, .get_final_message(), ...
        if name.startswith("_llmtap"):
            raise AttributeError(name)
        return getattr(self._llmtap_stream, name)

    def __del__(self):
        try:
            self._llmtap_end("cancelled")
        except Exception:
            pass


class _Stream(_StreamBase):
    def __init__(self, stream, call):
        self._init(stream, call)
        self._llmtap_it = None

    def __iter__(self):
        return self

    def __next__(self):
        if self._llmtap_it is None:
            self._llmtap_it = iter(self._llmtap_stream)
        try:
            item = next(self._llmtap_it)
        except StopIteration:
            self._llmtap_end("ok")
            raise
        except GeneratorExit:
            self._llmtap_end("cancelled")
            raise
        except BaseException as e:
            self._llmtap_end("error", e)
            raise
        self._llmtap_state.feed(item)
        return item

    def close(self):
        self._llmtap_end("cancelled")
        close = getattr(self._llmtap_stream, "close", None)
        if callable(close):
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class _AsyncStream(_StreamBase):
    def __init__(self, stream, call):
        self._init(stream, call)
        self._llmtap_it = None

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._llmtap_it is None:
            self._llmtap_it = self._llmtap_stream.__aiter__()
        try:
            item = await self._llmtap_it.__anext__()
        except StopAsyncIteration:
            self._llmtap_end("ok")
            raise
        except BaseException as e:  # CancelledError included
            import asyncio

            cancelled = isinstance(e, (asyncio.CancelledError, GeneratorExit))
            self._llmtap_end("cancelled" if cancelled else "error", None if cancelled else e)
            raise
        self._llmtap_state.feed(item)
        return item

    async def close(self):
        self._llmtap_end("cancelled")
        close = getattr(self._llmtap_stream, "close", None) or getattr(
            self._llmtap_stream, "aclose", None)
        if callable(close):
            r = close()
            if inspect.isawaitable(r):
                await r

    aclose = close

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()
        return False


def _after_call(resp, call, kwargs, is_async):
    if kwargs.get("stream") and call.op != "embeddings":
        return _AsyncStream(resp, call) if is_async else _Stream(resp, call)
    call.result(resp)
    return resp


async def _await_call(awaitable, call, kwargs):
    try:
        resp = await awaitable
    except BaseException as e:
        call.finish("error", e)
        raise
    return _after_call(resp, call, kwargs, True)


def _wrap_method(owner, attr, client, provider, op):
    """Replace owner.attr by a wrapper that records the call. An async SDK
    method may be a plain function returning a coroutine (the SDKs decorate
    them), so the result is checked, not only the function."""
    orig = getattr(owner, attr, None)
    if orig is None or getattr(orig, "_llmtap_wrapped", False):
        return

    def call_it(args, kwargs):
        call = _start_call(client, provider, op, kwargs)
        if call is None:
            return orig(*args, **kwargs)
        try:
            resp = orig(*args, **kwargs)
        except BaseException as e:
            call.finish("error", e)
            raise
        if inspect.isawaitable(resp):
            return _await_call(resp, call, kwargs)
        return _after_call(resp, call, kwargs, False)

    if inspect.iscoroutinefunction(orig):

        @functools.wraps(orig)
        async def wrapper(*args, **kwargs):
            return await call_it(args, kwargs)

    else:

        @functools.wraps(orig)
        def wrapper(*args, **kwargs):
            return call_it(args, kwargs)

    wrapper._llmtap_wrapped = True
    try:
        setattr(owner, attr, wrapper)
    except Exception as e:
        _log.debug("llmtap: cannot wrap %s: %r", attr, e)


def _start_call(client, provider, op, kwargs):
    if client.disabled:
        return None
    try:
        return _Call(client, provider, op, kwargs)
    except Exception as e:
        _log.debug("llmtap: cannot start a call span: %r", e)
        return None


def _provider_of(sdk_client):
    cls = type(sdk_client)
    names = (cls.__module__ + " " + cls.__name__).lower()
    if "anthropic" in names:
        return "anthropic"
    if "openai" in names:
        return "openai"
    has_chat = _get(sdk_client, "chat") is not None
    return "openai" if has_chat or _get(sdk_client, "responses") is not None else "anthropic"


def wrap(sdk_client, provider=None, client=None):
    """Record a span for every call of an ``openai`` or ``anthropic`` client
    (sync or async): chat.completions.create, responses.create,
    embeddings.create, messages.create, plain and ``stream=True``. The
    client object is changed in place and returned; calls, results, streams
    and exceptions are exactly what the SDK gives. 'client' is the llmtap
    Client to use (default: the module's)."""
    try:
        cl = client or get_client()
        if cl.disabled:
            return sdk_client
        provider = provider or _provider_of(sdk_client)
        targets = (
            (("chat", "completions"), "chat"),
            (("responses",), "responses"),
            (("embeddings",), "embeddings"),
            (("messages",), "messages"),
        )
        for path, op in targets:
            owner = sdk_client
            for p in path:
                owner = getattr(owner, p, None)
                if owner is None:
                    break
            if owner is not None:
                _wrap_method(owner, "create", cl, provider, op)
    except Exception as e:
        _log.debug("llmtap: wrap failed: %r", e)
    return sdk_client
