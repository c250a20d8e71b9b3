"""The Python shim (sdk-shims/python/llmtap.py), run by test_sdk_python.sh
with Debian's python3 after `pip install` into a temporary target.

Two kinds of tests:
- against the LIVE llmtap server the script started (LLMTAP_TEST_URL,
  LLMTAP_TEST_DB): record/trace with every field, the wrapped fake
  OpenAI/Anthropic clients (tests/clients/sdk_fakes.py: the SDKs' method
  surface; the real SDKs cannot be installed here), and the flush at exit
  of a child process; spans are read back with `llmtap query`;
- against a tiny http.server in this file that records requests and can
  answer 503: queue bound and drop-oldest, retry with Retry-After, the key
  header, server down, LLMTAP_DISABLED=1.
"""

import asyncio
import gc
import http.server
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import unittest
import uuid

import llmtap

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sdk_fakes  # noqa: E402

URL = os.environ.get("LLMTAP_TEST_URL")
DB = os.environ.get("LLMTAP_TEST_DB")
BIN = os.environ.get("LLMTAP_BIN")
SITE = os.environ.get("LLMTAP_TEST_SITE")


def query(sql):
    out = subprocess.run([BIN, "query", "--db", DB, "--json", sql], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def spans_of(trace_id):
    return query("SELECT * FROM spans WHERE trace_id = '%s' ORDER BY start_ns" % trace_id)


def live_client(**kw):
    kw.setdefault("flush_interval", 0.2)
    kw.setdefault("at_exit", False)
    return llmtap.Client(endpoint=URL, **kw)


# -- a recording HTTP server -------------------------------------------------


class Recorder:
    """Answers POST /api/v1/spans; the first len(script) requests get the
    scripted (status, headers) instead of 200."""

    def __init__(self, script=()):
        self.script = list(script)
        self.requests = []  # (monotonic time, headers dict, spans list)
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                spans = json.loads(body)
                rec.requests.append((time.monotonic(), dict(self.headers), spans))
                if rec.script:
                    status, headers = rec.script.pop(0)
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    data = b'{"error":{"code":"UNAVAILABLE","retryable":true}}'
                else:
                    self.send_response(200)
                    res = [{"index": i, "trace_id": s.get("trace_id"),
                            "span_id": s.get("span_id"), "status": "created"}
                           for i, s in enumerate(spans)]
                    data = json.dumps({"accepted": len(spans), "duplicates": 0,
                                       "rejected": 0, "results": res}).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def names(self):
        return [s.get("name") for _, _, spans in self.requests for s in spans]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


def child_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMTAP_")}
    env["PYTHONPATH"] = SITE
    env.update(extra)
    return env


class TestInstall(unittest.TestCase):
    def test_module_is_imported_from_the_pip_target(self):
        self.assertTrue(llmtap.__file__.startswith(SITE), llmtap.__file__)
        self.assertTrue(any(n.startswith("llmtap-") and n.endswith(".dist-info")
                            for n in os.listdir(SITE)))


class TestQueueAndRetry(unittest.TestCase):
    def setUp(self):
        self.rec = None

    def tearDown(self):
        if self.rec:
            self.rec.close()

    def test_full_queue_drops_the_oldest_and_counts_them(self):
        self.rec = Recorder()
        c = llmtap.Client(endpoint=self.rec.url, max_queue=5, batch_size=1000,
                          flush_interval=60, at_exit=False)
        for i in range(8):
            c.record("s%d" % i)
        self.assertEqual(c.stats()["dropped"], 3)
        self.assertEqual(c.stats()["queued"], 5)
        self.assertTrue(c.flush(10))
        self.assertEqual(self.rec.names(), ["s3", "s4", "s5", "s6", "s7"])
        self.assertEqual(c.stats(), {"sent": 5, "dropped": 3, "failed": 0, "queued": 0})

    def test_batches_follow_batch_size(self):
        self.rec = Recorder()
        c = llmtap.Client(endpoint=self.rec.url, batch_size=4, flush_interval=60,
                          at_exit=False)
        for i in range(10):
            c.record("b%d" % i)
        self.assertTrue(c.flush(10))
        self.assertEqual([len(s) for _, _, s in self.rec.requests], [4, 4, 2])

    def test_batches_stop_growing_at_four_mib(self):
        self.rec = Recorder()
        c = llmtap.Client(endpoint=self.rec.url, batch_size=1000, flush_interval=60,
                          at_exit=False)
        for i in range(3):  # two of these fit in 4 MiB, three do not
            c.record("big%d" % i, output="x" * (1536 * 1024))
        self.assertTrue(c.flush(20))
        self.assertEqual([len(s) for _, _, s in self.rec.requests], [2, 1])
        self.assertEqual(c.stats()["sent"], 3)

    def test_interval_sends_without_flush(self):
        self.rec = Recorder()
        c = llmtap.Client(endpoint=self.rec.url, batch_size=100, flush_interval=0.1,
                          at_exit=False)
        c.record("timed")
        deadline = time.monotonic() + 5
        while not self.rec.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.rec.names(), ["timed"])

    def test_503_is_retried_after_retry_after(self):
        self.rec = Recorder([(503, {"Retry-After": "1"}), (503, {"Retry-After": "1"})])
        c = llmtap.Client(endpoint=self.rec.url, retry_base=0.01, at_exit=False)
        c.record("retried")
        self.assertTrue(c.flush(20))
        times = [t for t, _, _ in self.rec.requests]
        self.assertEqual(len(times), 3)
        self.assertGreaterEqual(times[1] - times[0], 0.9)
        self.assertGreaterEqual(times[2] - times[1], 0.9)
        self.assertEqual(self.rec.names(), ["retried"] * 3)
        self.assertEqual(c.stats()["sent"], 1)
        self.assertEqual(c.stats()["failed"], 0)

    def test_429_then_success(self):
        self.rec = Recorder([(429, {})])
        c = llmtap.Client(endpoint=self.rec.url, retry_base=0.01, at_exit=False)
        c.record("limited")
        self.assertTrue(c.flush(10))
        self.assertEqual(len(self.rec.requests), 2)
        self.assertEqual(c.stats()["sent"], 1)

    def test_other_4xx_is_not_retried_and_counted_failed(self):
        self.rec = Recorder([(401, {})])
        c = llmtap.Client(endpoint=self.rec.url, retry_base=0.01, at_exit=False)
        c.record("denied")
        self.assertTrue(c.flush(10))
        self.assertEqual(len(self.rec.requests), 1)
        self.assertEqual(c.stats()["failed"], 1)

    def test_key_goes_in_the_llmtap_key_header(self):
        self.rec = Recorder()
        c = llmtap.Client(endpoint=self.rec.url, key="lt_secret_1", project="p1",
                          version_set="app=1", at_exit=False)
        c.record("keyed")
        self.assertTrue(c.flush(10))
        headers = {k.lower(): v for k, v in self.rec.requests[0][1].items()}
        self.assertEqual(headers["llmtap-key"], "lt_secret_1")
        span = self.rec.requests[0][2][0]
        self.assertEqual(span["project"], "p1")
        self.assertEqual(span["version_set"], "app=1")

    def test_the_key_is_never_logged(self):
        self.rec = Recorder([(401, {})])
        seen = []

        class Keep(logging.Handler):
            def emit(self, record):
                seen.append(record.getMessage())

        log = logging.getLogger("llmtap")
        h = Keep(level=logging.DEBUG)
        log.addHandler(h)
        log.setLevel(logging.DEBUG)
        try:
            for url in (self.rec.url, closed_port_url()):
                c = llmtap.Client(endpoint=url, key="lt_secret_2", max_retries=1,
                                  retry_base=0.01, at_exit=False)
                c.record("k")
                self.assertTrue(c.flush(10))
        finally:
            log.removeHandler(h)
            log.setLevel(logging.NOTSET)
        self.assertTrue(seen)  # something was logged...
        self.assertFalse([m for m in seen if "lt_secret_2" in m])  # ...never the key

    def test_server_down_never_raises_and_counts_failed(self):
        c = llmtap.Client(endpoint=closed_port_url(), max_retries=2, retry_base=0.01,
                          at_exit=False)
        c.record("lost1")
        with c.trace("lost-trace") as s:
            s.set(model="m")
            c.record("lost2")
        self.assertTrue(c.flush(10))
        self.assertEqual(c.stats()["failed"], 3)
        self.assertEqual(c.stats()["sent"], 0)

    def test_unserialisable_values_never_raise(self):
        self.rec = Recorder()
        c = llmtap.Client(endpoint=self.rec.url, at_exit=False)
        c.record("odd", input=object(), attributes={"x": {1, 2}}, output="\ud800 lone")
        self.assertTrue(c.flush(10))
        self.assertEqual(self.rec.names(), ["odd"])

    def test_disabled_sends_nothing(self):
        self.rec = Recorder()
        code = (
            "import llmtap, sdk_fakes\n"
            "llmtap.record('x', model='m')\n"
            "with llmtap.trace('t') as s:\n"
            "    s.set(user='u')\n"
            "c = sdk_fakes.OpenAI()\n"
            "assert llmtap.wrap(c) is c\n"
            "c.chat.completions.create(model='m', messages=[])\n"
            "assert llmtap.flush(1)\n"
            "assert llmtap.stats()['sent'] == 0\n"
        )
        env = child_env(LLMTAP_DISABLED="1", LLMTAP_ENDPOINT=self.rec.url)
        env["PYTHONPATH"] = SITE + os.pathsep + HERE
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
        time.sleep(0.3)
        self.assertEqual(self.rec.requests, [])


class TestLive(unittest.TestCase):
    def test_record_and_nested_trace_with_every_field(self):
        c = live_client(project="pyshim", version_set="app=1.0;cfg=2")
        with c.trace("agent", kind="agent", user="u_py", session="sess_py",
                     tenant="acme", tags=["py", "live"]) as root:
            with c.trace("plan", kind="chain") as child:
                c.record("llm call", model="gpt-4o-mini", provider="openai",
                         input=[{"role": "user", "content": "Where is A-1042?"}],
                         output={"role": "assistant", "content": "Shipped."},
                         input_tokens=12, output_tokens=3, cache_read_tokens=4,
                         cost_usd=0.000123, ttft_ms=45.5, prompt="support@7",
                         variables={"order": "A-1042"}, params={"temperature": 0.2},
                         tags=["inner"], finish_reason="stop", region="eu")
                c.record("tool", kind="tool", input={"q": 1}, output="ok",
                         status="error", error={"code": "TIMEOUT", "message": "slow"})
            child_id = child.span_id
        self.assertTrue(c.flush(20))
        rows = spans_of(root.trace_id)
        self.assertEqual(len(rows), 4, rows)
        by = {r["name"]: r for r in rows}
        self.assertIsNone(by["agent"]["parent_span_id"])
        self.assertEqual(by["plan"]["parent_span_id"], root.span_id)
        self.assertEqual(by["llm call"]["parent_span_id"], child_id)
        self.assertEqual(by["tool"]["parent_span_id"], child_id)
        llm = by["llm call"]
        self.assertEqual(len(llm["trace_id"]), 32)
        self.assertEqual(len(llm["span_id"]), 16)
        for r in rows:  # inherited from the root span / the client
            self.assertEqual(r["user_id"], "u_py")
            self.assertEqual(r["session_id"], "sess_py")
            self.assertEqual(r["tenant"], "acme")
            self.assertEqual(r["version_set"], "app=1.0;cfg=2")
            self.assertEqual(r["project"], "pyshim")
        self.assertEqual(json.loads(by["agent"]["tags"]), ["py", "live"])
        self.assertEqual(by["agent"]["kind"], "agent")
        self.assertEqual(llm["model"], "gpt-4o-mini")
        self.assertEqual(llm["provider"], "openai")
        self.assertEqual((llm["input_tokens"], llm["output_tokens"], llm["cache_read_tokens"]),
                         (12, 3, 4))
        self.assertAlmostEqual(llm["cost_usd"], 0.000123)
        self.assertEqual(llm["ttft_ms"], 45.5)
        self.assertEqual((llm["prompt_name"], llm["prompt_version"]), ("support", 7))
        self.assertEqual(json.loads(llm["prompt_vars"]), {"order": "A-1042"})
        self.assertEqual(json.loads(llm["params"]), {"temperature": 0.2})
        self.assertEqual(json.loads(llm["tags"]), ["inner"])
        self.assertEqual(json.loads(llm["attributes"]), {"region": "eu"})
        self.assertEqual(llm["finish_reason"], "stop")
        self.assertIn("Where is A-1042?", llm["input"])
        tool = by["tool"]
        self.assertEqual((tool["kind"], tool["status"], tool["error_code"]),
                         ("tool", "error", "TIMEOUT"))
        self.assertGreaterEqual(by["agent"]["end_ns"], by["plan"]["end_ns"])

    def test_exception_in_trace_marks_error_and_propagates(self):
        c = live_client()
        with self.assertRaises(ZeroDivisionError):
            with c.trace("boom") as s:
                1 / 0
        self.assertTrue(c.flush(20))
        r = spans_of(s.trace_id)[0]
        self.assertEqual((r["status"], r["error_code"]), ("error", "ZeroDivisionError"))

    def test_trace_context_follows_asyncio_tasks(self):
        c = live_client()

        async def step(i):
            with c.trace("step%d" % i):
                await asyncio.sleep(0.01)
                c.record("leaf%d" % i)

        async def main():
            with c.trace("root") as root:
                await asyncio.gather(step(0), step(1))
            return root

        root = asyncio.run(main())
        self.assertTrue(c.flush(20))
        rows = {r["name"]: r for r in spans_of(root.trace_id)}
        self.assertEqual(len(rows), 5)
        for i in (0, 1):
            self.assertEqual(rows["step%d" % i]["parent_span_id"], root.span_id)
            self.assertEqual(rows["leaf%d" % i]["parent_span_id"], rows["step%d" % i]["span_id"])

    def test_fork_child_sends_its_own_spans(self):
        c = live_client(flush_interval=60)
        before = "fork-before-" + uuid.uuid4().hex
        child = "fork-child-" + uuid.uuid4().hex
        c.record(before)
        pid = os.fork()
        if pid == 0:  # the child: a fresh sender, not the parent's queue
            code = 3
            try:
                c.record(child)
                code = 0 if c.flush(10) and c.stats()["sent"] == 1 else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(status, 0)
        self.assertTrue(c.flush(20))
        rows = query("SELECT name FROM spans WHERE name IN ('%s', '%s') ORDER BY name"
                     % (before, child))
        self.assertEqual([r["name"] for r in rows], sorted([before, child]))

    def test_flush_at_exit(self):
        name = "exit-" + uuid.uuid4().hex
        code = "import llmtap\nllmtap.record(%r, model='gpt-4o-mini')\n" % name
        env = child_env(LLMTAP_ENDPOINT=URL, LLMTAP_PROJECT="exitproj")
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
        rows = query("SELECT name, project FROM spans WHERE name = '%s'" % name)
        self.assertEqual(rows, [{"name": name, "project": "exitproj"}])


class TestWrap(unittest.TestCase):
    def setUp(self):
        self.c = live_client()

    def trace_rows(self, root):
        self.assertTrue(self.c.flush(20))
        return [r for r in spans_of(root.trace_id) if r["span_id"] != root.span_id]

    def test_openai_sync_chat_responses_embeddings_plain_and_stream(self):
        oa = sdk_fakes.OpenAI()
        self.assertIs(llmtap.wrap(oa, client=self.c), oa)
        llmtap.wrap(oa, client=self.c)  # twice is harmless
        msgs = [{"role": "user", "content": "Where is my order?"}]
        with self.c.trace("openai-sync", user="u_oa") as root:
            r = oa.chat.completions.create(model="gpt-4o-mini", messages=msgs, temperature=0.2)
            self.assertEqual(r.choices[0].message.content, "Hi!")
            seen = list(oa.chat.completions.create(model="gpt-4o-mini", messages=msgs,
                                                   stream=True,
                                                   stream_options={"include_usage": True}))
            chat_stream = oa.streams[-1]
            r2 = oa.responses.create(model="gpt-4.1", input="Status?", instructions="Be brief")
            self.assertEqual(r2.output[0].content[0].text, "Shipped today.")
            with oa.responses.create(model="gpt-4.1", input="Status?", stream=True) as rs:
                events = [e for e in rs]
            e = oa.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
            self.assertEqual(len(e.data), 2)
        # the stream passed through untouched: the very same objects, in order
        self.assertEqual(len(seen), len(chat_stream.yielded))
        self.assertTrue(all(a is b for a, b in zip(seen, chat_stream.yielded)))
        self.assertEqual([x.type for x in events],
                         [x.type for x in oa.streams[-1].yielded])
        self.assertEqual(len(oa.calls), 5)
        rows = self.trace_rows(root)
        self.assertEqual(len(rows), 5, rows)
        plain, stream, resp, rstream, emb = rows
        for r in rows:
            self.assertEqual(r["parent_span_id"], root.span_id)
            self.assertEqual(r["provider"], "openai")
            self.assertEqual(r["user_id"], "u_oa")
            self.assertEqual(r["status"], "ok")
        self.assertEqual((plain["model"], plain["response_model"]),
                         ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"))
        self.assertEqual((plain["input_tokens"], plain["output_tokens"],
                          plain["cache_read_tokens"], plain["reasoning_tokens"]), (12, 3, 4, 1))
        self.assertIn("Where is my order?", plain["input"])
        self.assertIn("Hi!", plain["output"])
        self.assertEqual(json.loads(plain["params"]), {"temperature": 0.2})
        self.assertIsNone(plain["ttft_ms"])
        self.assertEqual((stream["input_tokens"], stream["output_tokens"]), (20, 3))
        self.assertIn("Your order shipped.", stream["output"])
        self.assertIsNotNone(stream["ttft_ms"])
        self.assertEqual(stream["finish_reason"], "stop")
        self.assertEqual((resp["input_tokens"], resp["output_tokens"],
                          resp["cache_read_tokens"], resp["reasoning_tokens"]), (30, 5, 10, 2))
        self.assertIn("Be brief", resp["input"])
        self.assertIn("Shipped today.", resp["output"])
        self.assertEqual(rstream["input_tokens"], 30)
        self.assertIsNotNone(rstream["ttft_ms"])
        self.assertIn("Shipped today.", rstream["output"])
        self.assertEqual((emb["kind"], emb["input_tokens"]), ("embedding", 8))
        self.assertEqual(json.loads(emb["attributes"])["embedding.count"], 2)

    def test_openai_stream_without_usage_still_records(self):
        oa = llmtap.wrap(sdk_fakes.OpenAI(), client=self.c)
        with self.c.trace("nousage") as root:
            for _ in oa.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True):
                pass
        (r,) = self.trace_rows(root)
        self.assertEqual(r["status"], "ok")
        self.assertIsNone(r["output_tokens"])
        self.assertIn("Your order shipped.", r["output"])

    def test_openai_async_chat_plain_and_stream(self):
        oa = llmtap.wrap(sdk_fakes.AsyncOpenAI(), client=self.c)

        async def main():
            with self.c.trace("openai-async") as root:
                r = await oa.chat.completions.create(model="gpt-4o-mini",
                                                     messages=[{"role": "user", "content": "hi"}])
                self.assertEqual(r.choices[0].message.content, "Hi!")
                s = await oa.chat.completions.create(model="gpt-4o-mini", messages=[],
                                                     stream=True,
                                                     stream_options={"include_usage": True})
                got = [ch async for ch in s]
                r2 = await oa.responses.create(model="gpt-4.1", input="x")
                e = await oa.embeddings.create(model="text-embedding-3-small", input="x")
            return root, got, r2, e

        root, got, r2, e = asyncio.run(main())
        self.assertTrue(all(a is b for a, b in zip(got, oa.streams[0].yielded)))
        self.assertEqual(len(got), len(oa.streams[0].yielded))
        rows = self.trace_rows(root)
        self.assertEqual(len(rows), 4)
        self.assertEqual(rows[0]["input_tokens"], 12)
        self.assertEqual(rows[1]["output_tokens"], 3)
        self.assertIsNotNone(rows[1]["ttft_ms"])
        self.assertEqual(rows[2]["output_tokens"], 5)
        self.assertEqual(rows[3]["kind"], "embedding")

    def test_anthropic_sync_and_async_plain_and_stream(self):
        an = llmtap.wrap(sdk_fakes.Anthropic(), client=self.c)
        aan = llmtap.wrap(sdk_fakes.AsyncAnthropic(), client=self.c)
        msgs = [{"role": "user", "content": "Where is A-1042?"}]
        with self.c.trace("anthropic") as root:
            m = an.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=msgs,
                                   system="You are terse", metadata={"user_id": "u_meta"})
            self.assertEqual(m.content[0].text, "Done.")
            evs = list(an.messages.create(model="claude-sonnet-4-5", max_tokens=100,
                                          messages=msgs, stream=True))

            async def run():
                m2 = await aan.messages.create(model="claude-haiku-4-5", max_tokens=10,
                                               messages=msgs)
                s = await aan.messages.create(model="claude-haiku-4-5", max_tokens=10,
                                              messages=msgs, stream=True)
                return m2, [e async for e in s]

            m2, aevs = asyncio.run(run())
        self.assertTrue(all(a is b for a, b in zip(evs, an.streams[0].yielded)))
        self.assertEqual([e.type for e in aevs], [e.type for e in aan.streams[0].yielded])
        rows = self.trace_rows(root)
        self.assertEqual(len(rows), 4, rows)
        for r in rows:
            self.assertEqual(r["provider"], "anthropic")
            # input_tokens includes the cache: 42 + 100 + 1210
            self.assertEqual((r["input_tokens"], r["cache_read_tokens"],
                              r["cache_write_tokens"], r["output_tokens"]),
                             (1352, 100, 1210, 71))
            self.assertEqual(r["finish_reason"], "tool_use")
            out = json.loads(r["output"])
            self.assertEqual(out["tool_calls"][0]["name"], "lookup_order")
            self.assertEqual(out["tool_calls"][0]["arguments"], {"order_id": "A-1042"})
        self.assertEqual(rows[0]["user_id"], "u_meta")
        self.assertIn("You are terse", rows[0]["input"])
        self.assertIn("Done.", rows[0]["output"])
        self.assertIn("I'll look that order up.", rows[1]["output"])
        self.assertIsNotNone(rows[1]["ttft_ms"])
        self.assertIsNotNone(rows[3]["ttft_ms"])

    def test_abandoned_or_closed_stream_is_cancelled(self):
        oa = llmtap.wrap(sdk_fakes.OpenAI(), client=self.c)
        an = llmtap.wrap(sdk_fakes.Anthropic(), client=self.c)
        with self.c.trace("cancel") as root:
            s = oa.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True)
            next(s)
            next(s)  # "Your"
            del s  # garbage-collected mid-stream
            gc.collect()
            s2 = an.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=[],
                                    stream=True)
            for ev in s2:
                if ev.type == "content_block_delta":
                    break
            s2.close()
            self.assertTrue(an.streams[0].closed)
        rows = self.trace_rows(root)
        self.assertEqual(len(rows), 2, rows)
        self.assertEqual([r["status"] for r in rows], ["cancelled", "cancelled"])
        self.assertIn("Your", rows[0]["output"])
        self.assertEqual(rows[1]["input_tokens"], 1352)  # message_start had arrived

    def test_sdk_errors_reach_the_app_unchanged_and_are_recorded(self):
        oa = llmtap.wrap(sdk_fakes.OpenAI(), client=self.c)
        err = sdk_fakes.RateLimitError("slow down", 429)
        oa.fail_next = err
        with self.c.trace("errors") as root:
            with self.assertRaises(sdk_fakes.RateLimitError) as cm:
                oa.chat.completions.create(model="gpt-4o-mini", messages=[])
            self.assertIs(cm.exception, err)
        (r,) = self.trace_rows(root)
        self.assertEqual((r["status"], r["error_code"], r["error_message"]),
                         ("error", "RateLimitError", "slow down"))


if __name__ == "__main__":
    missing = [n for n, v in (("LLMTAP_TEST_URL", URL), ("LLMTAP_TEST_DB", DB),
                              ("LLMTAP_BIN", BIN), ("LLMTAP_TEST_SITE", SITE)) if not v]
    if missing:
        sys.exit("sdk_python_test: set %s (run tests/clients/test_sdk_python.sh)" % missing)
    unittest.main(verbosity=2)
