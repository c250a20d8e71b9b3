"""Stand-ins for the `openai` and `anthropic` Python SDKs (which cannot be
installed here: no PyPI). They reproduce the documented method surface the
llmtap shim wraps: the attribute paths (client.chat.completions.create,
client.responses.create, client.embeddings.create, client.messages.create,
resources as cached properties), keyword-only signatures, pydantic-like
return objects (attributes + model_dump()) built from the wire JSON of
PROTOCOLS.md sections 3 and 4, and Stream / AsyncStream objects (iterable,
close(), context managers) yielding chunk / event objects. Async create()
methods are plain functions returning a coroutine, as the SDKs' decorators
make them. Every call is logged in `client.calls`; every item a stream
yields is kept in `stream.yielded`, so a test can check the app saw the very
same objects."""

import functools
import json
from functools import cached_property


class Model:
    """pydantic.BaseModel stand-in: fields as attributes, model_dump()."""

    def __init__(self, **fields):
        for k, v in fields.items():
            setattr(self, k, v)

    def model_dump(self):
        def dump(v):
            if isinstance(v, Model):
                return v.model_dump()
            if isinstance(v, list):
                return [dump(x) for x in v]
            return v

        return {k: dump(v) for k, v in vars(self).items()}


def obj(value):
    """Wire JSON -> SDK objects (dicts become Models, recursively)."""
    if isinstance(value, dict):
        return Model(**{k: obj(v) for k, v in value.items()})
    if isinstance(value, list):
        return [obj(v) for v in value]
    return value


class APIStatusError(Exception):
    def __init__(self, message, status_code):
        super().__init__(message)
        self.status_code = status_code


class RateLimitError(APIStatusError):
    pass


class Stream:
    """openai.Stream / anthropic.Stream: iterate items; close() ends early."""

    def __init__(self, items):
        self._items = [obj(i) for i in items]
        self.yielded = []
        self.closed = False
        self.response = Model(status_code=200, headers={})
        self._iterator = self.__stream__()

    def __stream__(self):
        for item in self._items:
            if self.closed:
                return
            self.yielded.append(item)
            yield item

    def __iter__(self):
        for item in self._iterator:
            yield item

    def __next__(self):
        return next(self._iterator)

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncStream:
    def __init__(self, items):
        self._items = [obj(i) for i in items]
        self.yielded = []
        self.closed = False
        self.response = Model(status_code=200, headers={})
        self._iterator = self.__stream__()

    async def __stream__(self):
        for item in self._items:
            if self.closed:
                return
            self.yielded.append(item)
            yield item

    def __aiter__(self):
        return self._iterator

    async def __anext__(self):
        return await self._iterator.__anext__()

    async def close(self):
        self.closed = True

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


def required_args(*variants):
    """Like the SDKs' decorator: a plain-function wrapper around create()."""

    def deco(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if not any(all(a in kwargs for a in v) for v in variants):
                raise TypeError("missing required arguments")
            return func(*args, **kwargs)

        return wrapper

    return deco


# -- OpenAI ----------------------------------------------------------------

CHAT_TEXT = ["Your", " order", " shipped."]


def chat_completion(model):
    return {
        "id": "chatcmpl-7Qn2",
        "object": "chat.completion",
        "created": 1772460309,
        "model": model + "-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi!", "refusal": None,
                            "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 3,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 1, "audio_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_3c1e9a7d42",
    }


def chat_chunks(model, include_usage):
    base = {"id": "chatcmpl-C8f1", "object": "chat.completion.chunk", "created": 1772460309,
            "model": model + "-2024-07-18", "system_fingerprint": "fp_3c1e9a7d42"}

    def chunk(delta, finish=None):
        c = dict(base)
        c["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        c["usage"] = None
        return c

    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    out += [chunk({"content": t}) for t in CHAT_TEXT]
    out.append(chunk({}, "stop"))
    if include_usage:
        last = dict(base)
        last["choices"] = []
        last["usage"] = {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23,
                         "prompt_tokens_details": {"cached_tokens": 0},
                         "completion_tokens_details": {"reasoning_tokens": 0}}
        out.append(last)
    return out


def response_obj(model):
    return {
        "id": "resp_1", "object": "response", "created_at": 1772460309, "status": "completed",
        "model": model,
        "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "Shipped today.",
                                 "annotations": []}]}],
        "error": None, "incomplete_details": None,
        "usage": {"input_tokens": 30, "input_tokens_details": {"cached_tokens": 10},
                  "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2},
                  "total_tokens": 35},
    }


def response_events(model):
    created = response_obj(model)
    created["status"] = "in_progress"
    created["output"] = []
    created["usage"] = None
    evs = [{"type": "response.created", "sequence_number": 0, "response": created},
           {"type": "response.in_progress", "sequence_number": 1, "response": created}]
    for n, t in enumerate(["Shipped", " today."]):
        evs.append({"type": "response.output_text.delta", "sequence_number": 2 + n,
                    "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": t})
    evs.append({"type": "response.completed", "sequence_number": 9,
                "response": response_obj(model)})
    return evs


def embedding_list(model, inp):
    n = 1 if isinstance(inp, str) else len(inp)
    return {"object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3, 0.4]}
                     for i in range(n)],
            "model": model, "usage": {"prompt_tokens": 8, "total_tokens": 8}}


class _Resource:
    def __init__(self, client):
        self._client = client


class Completions(_Resource):
    @required_args(["messages", "model"], ["messages", "model", "stream"])
    def create(self, *, messages, model, stream=False, stream_options=None, **kwargs):
        self._client.calls.append(("chat", dict(messages=messages, model=model, **kwargs)))
        self._client.raise_if_asked()
        if stream:
            s = Stream(chat_chunks(model, bool((stream_options or {}).get("include_usage"))))
            self._client.streams.append(s)
            return s
        return obj(chat_completion(model))


class Chat(_Resource):
    @cached_property
    def completions(self):
        return Completions(self._client)


class Responses(_Resource):
    def create(self, *, input, model, stream=False, instructions=None, **kwargs):
        self._client.calls.append(("responses", dict(input=input, model=model)))
        self._client.raise_if_asked()
        if stream:
            s = Stream(response_events(model))
            self._client.streams.append(s)
            return s
        return obj(response_obj(model))


class Embeddings(_Resource):
    def create(self, *, input, model, encoding_format=None, dimensions=None, **kwargs):
        self._client.calls.append(("embeddings", dict(input=input, model=model)))
        self._client.raise_if_asked()
        return obj(embedding_list(model, input))


class _BaseClient:
    def __init__(self, api_key="sk-test", base_url=None):
        self.api_key = api_key
        self.base_url = base_url
        self.calls = []
        self.streams = []
        self.fail_next = None

    def raise_if_asked(self):
        if self.fail_next is not None:
            e, self.fail_next = self.fail_next, None
            raise e


class OpenAI(_BaseClient):
    @cached_property
    def chat(self):
        return Chat(self)

    @cached_property
    def responses(self):
        return Responses(self)

    @cached_property
    def embeddings(self):
        return Embeddings(self)


class AsyncCompletions(_Resource):
    @required_args(["messages", "model"], ["messages", "model", "stream"])
    def create(self, *, messages, model, stream=False, stream_options=None, **kwargs):
        async def run():
            self._client.calls.append(("chat", dict(messages=messages, model=model)))
            self._client.raise_if_asked()
            if stream:
                s = AsyncStream(chat_chunks(model, bool((stream_options or {}).get(
                    "include_usage"))))
                self._client.streams.append(s)
                return s
            return obj(chat_completion(model))

        return run()


class AsyncChat(_Resource):
    @cached_property
    def completions(self):
        return AsyncCompletions(self._client)


class AsyncResponses(_Resource):
    async def create(self, *, input, model, stream=False, **kwargs):
        self._client.calls.append(("responses", dict(input=input, model=model)))
        if stream:
            s = AsyncStream(response_events(model))
            self._client.streams.append(s)
            return s
        return obj(response_obj(model))


class AsyncEmbeddings(_Resource):
    async def create(self, *, input, model, **kwargs):
        self._client.calls.append(("embeddings", dict(input=input, model=model)))
        return obj(embedding_list(model, input))


class AsyncOpenAI(_BaseClient):
    @cached_property
    def chat(self):
        return AsyncChat(self)

    @cached_property
    def responses(self):
        return AsyncResponses(self)

    @cached_property
    def embeddings(self):
        return AsyncEmbeddings(self)


# -- Anthropic -------------------------------------------------------------

ANTH_USAGE = {"input_tokens": 42, "cache_creation_input_tokens": 1210,
              "cache_read_input_tokens": 100,
              "cache_creation": {"ephemeral_5m_input_tokens": 1210,
                                 "ephemeral_1h_input_tokens": 0},
              "output_tokens": 71, "service_tier": "standard"}


def anth_message(model):
    return {"id": "msg_01Hq7", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "Done."},
                        {"type": "tool_use", "id": "toolu_1", "name": "lookup_order",
                         "input": {"order_id": "A-1042"}}],
            "stop_reason": "tool_use", "stop_sequence": None, "usage": dict(ANTH_USAGE)}


def anth_events(model):
    start = anth_message(model)
    start["content"] = []
    start["stop_reason"] = None
    start["usage"] = dict(ANTH_USAGE, output_tokens=2)
    evs = [{"type": "message_start", "message": start},
           {"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}},
           {"type": "ping"}]
    for t in ["I'll", " look that", " order up."]:
        evs.append({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": t}})
    evs += [{"type": "content_block_stop", "index": 0},
            {"type": "content_block_start", "index": 1,
             "content_block": {"type": "tool_use", "id": "toolu_1", "name": "lookup_order",
                               "input": {}}},
            {"type": "content_block_delta", "index": 1,
             "delta": {"type": "input_json_delta", "partial_json": ""}},
            {"type": "content_block_delta", "index": 1,
             "delta": {"type": "input_json_delta", "partial_json": "{\"order_id\": "}},
            {"type": "content_block_delta", "index": 1,
             "delta": {"type": "input_json_delta", "partial_json": "\"A-1042\"}"}},
            {"type": "content_block_stop", "index": 1},
            {"type": "message_delta", "delta": {"stop_reason": "tool_use",
                                                "stop_sequence": None},
             "usage": {"output_tokens": 71}},
            {"type": "message_stop"}]
    return evs


class Messages(_Resource):
    @required_args(["max_tokens", "messages", "model"],
                   ["max_tokens", "messages", "model", "stream"])
    def create(self, *, max_tokens, messages, model, stream=False, system=None, metadata=None,
               **kwargs):
        self._client.calls.append(("messages", dict(messages=messages, model=model)))
        self._client.raise_if_asked()
        if stream:
            s = Stream(anth_events(model))
            self._client.streams.append(s)
            return s
        return obj(anth_message(model))


class AsyncMessages(_Resource):
    @required_args(["max_tokens", "messages", "model"],
                   ["max_tokens", "messages", "model", "stream"])
    def create(self, *, max_tokens, messages, model, stream=False, system=None, metadata=None,
               **kwargs):
        async def run():
            self._client.calls.append(("messages", dict(messages=messages, model=model)))
            self._client.raise_if_asked()
            if stream:
                s = AsyncStream(anth_events(model))
                self._client.streams.append(s)
                return s
            return obj(anth_message(model))

        return run()


class Anthropic(_BaseClient):
    @cached_property
    def messages(self):
        return Messages(self)


class AsyncAnthropic(_BaseClient):
    @cached_property
    def messages(self):
        return AsyncMessages(self)


def wire(o):
    """An SDK object back to JSON text (for comparisons in tests)."""
    return json.dumps(o.model_dump() if isinstance(o, Model) else o, sort_keys=True)
