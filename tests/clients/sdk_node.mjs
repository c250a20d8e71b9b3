// sdk_node.mjs: the Node shim (sdk-shims/node) around the real npm `openai`
// and `@anthropic-ai/sdk` clients, pointed straight at the fake upstream.
// Every call is made twice, by the bare client and by the wrapped one, and
// what the app sees must be the same bytes (JSON of the result or of the
// stream's events, `created` / `created_at` zeroed and `req_…` request ids
// blanked: the fake makes those per request); then the spans the shim sent are read back from llmtap.
//
//   node sdk_node.mjs main     --fake URL --url URL --llmtap BIN --db DB
//   node sdk_node.mjs queue    --url URL --llmtap BIN --db DB   (drop oldest, counted)
//   node sdk_node.mjs retry    --url URL --llmtap BIN --db DB   (503 + Retry-After, then through)
//   node sdk_node.mjs down     --fake URL                      (no server: the app never sees it)
//   node sdk_node.mjs exit     --fake URL --url URL            (no flush(): beforeExit sends)
//   node sdk_node.mjs disabled --fake URL                      (LLMTAP_DISABLED=1: nothing sent)
// Exit 0 = pass; failures are printed on stderr.
import { execFileSync } from "node:child_process";
import http from "node:http";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import * as llmtap from "../../sdk-shims/node/index.js";

const args = Object.fromEntries(
  process.argv.slice(3).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const mode = process.argv[2];

function fail(msg) {
  console.error(`sdk_node ${mode}: FAIL: ${msg}`);
  process.exit(1);
}
function expect(cond, msg) {
  if (!cond) fail(msg);
}
for (const ev of ["unhandledRejection", "uncaughtException"]) {
  process.on(ev, (e) => fail(`${ev}: ${e && e.stack}`));
}

const stable = (v) =>
  JSON.stringify(v, (k, x) => (k === "created" || k === "created_at" ? 0 : x)).replace(/req_[0-9a-f]+/g, "req_");
const user = [{ role: "user", content: "Where is my parcel? It was order 4417." }];
const COMMON = { user: "u-7", tenant: "acme", versionSet: "app=1.4.2", tags: ["sdk-test"],
  prompt: { name: "support", version: 3, variables: { order: "4417" } } };

function rawClients(fake) {
  return {
    openai: new OpenAI({ apiKey: "sk-test-sdk-0001", baseURL: `${fake}/v1`, maxRetries: 0 }),
    anthropic: new Anthropic({ apiKey: "sk-ant-test-0001", baseURL: fake, maxRetries: 0 }),
  };
}

async function drain(stream, limit = Infinity) {
  const seen = [];
  for await (const ev of stream) {
    seen.push(ev);
    if (seen.length >= limit) break;
  }
  return seen;
}

async function caught(fn) {
  try {
    await fn();
  } catch (e) {
    return { cls: e.constructor.name, status: e.status, message: e.message, error: e.error, proto: Object.getPrototypeOf(e) === e.constructor.prototype };
  }
  return { cls: "none" };
}

// One case per session: [name, which client, the call]. Each returns what
// the app saw (compared byte for byte between the bare and wrapped client).
const CASES = [
  ["chat-plain", "openai", (c) => c.chat.completions.create({ model: "gpt-4o-mini", messages: user, temperature: 0.2, max_tokens: 64 })],
  ["chat-cached", "openai", (c) => c.chat.completions.create({ model: "gpt-4o-mini", messages: user }, { headers: { "X-Fake-Cache-Read": "7", "X-Fake-Reasoning": "2" } })],
  ["chat-stream", "openai", async (c) => drain(await c.chat.completions.create({ model: "gpt-4o-mini", messages: user, stream: true }))],
  ["chat-stream-usage", "openai", async (c) =>
    drain(await c.chat.completions.create({ model: "gpt-4o-mini", messages: user, stream: true, stream_options: { include_usage: true } }))],
  ["chat-stream-injected", "openai", async (c) => drain(await c.chat.completions.create({ model: "gpt-4o-mini", messages: user, stream: true }))],
  ["chat-tools", "openai", (c) => c.chat.completions.create({ model: "gpt-4o-mini", messages: user, tools: [{ type: "function",
    function: { name: "lookup_order", description: "Find an order", parameters: { type: "object", properties: { order_id: { type: "string" } } } } }] })],
  ["responses-plain", "openai", (c) => c.responses.create({ model: "gpt-4o-mini", input: "Say hello to the parcel team.", instructions: "Be brief." })],
  ["responses-stream", "openai", async (c) => drain(await c.responses.create({ model: "gpt-4o-mini", input: "Say hello to the parcel team.", stream: true }))],
  ["messages-plain", "anthropic", (c) => c.messages.create({ model: "claude-sonnet-4-5", max_tokens: 200, system: "Be brief.", messages: user },
    { headers: { "X-Fake-Cache-Read": "11", "X-Fake-Cache-Write": "5" } })],
  ["messages-stream", "anthropic", async (c) => drain(await c.messages.create({ model: "claude-sonnet-4-5", max_tokens: 200, messages: user, stream: true }))],
  ["messages-helper", "anthropic", async (c) => {
    const s = c.messages.stream({ model: "claude-sonnet-4-5", max_tokens: 200, messages: user });
    let text = "";
    s.on("text", (t) => { text += t; });
    const final = await s.finalMessage();
    return { text, final };
  }],
  ["embeddings", "openai", (c) => c.embeddings.create({ model: "text-embedding-3-small", input: ["a lost parcel", "a missing parcel"] })],
  ["chat-error", "openai", (c) => caught(() => c.chat.completions.create({ model: "gpt-4o-mini", messages: user }, { headers: { "X-Fake-Fault": "500" } }))],
  ["messages-error", "anthropic", (c) => caught(() => c.messages.create({ model: "claude-sonnet-4-5", max_tokens: 50, messages: user }, { headers: { "X-Fake-Fault": "429", "X-Fake-Retry-After": "0" } }))],
  ["chat-midstream", "openai", (c) => caught(async () =>
    drain(await c.chat.completions.create({ model: "gpt-4o-mini", messages: user, stream: true }, { headers: { "X-Fake-Fault": "midstream" } })))],
  ["chat-n5-stream", "openai", async (c) => drain(await c.chat.completions.create({ model: "gpt-4o-mini", messages: user, stream: true, n: 5 }))],
  ["chat-abandoned", "openai", async (c) =>
    drain(await c.chat.completions.create({ model: "gpt-4o-mini", messages: user, stream: true }, { headers: { "X-Fake-Tokens": "30" } }), 4)],
  ["messages-aborted", "anthropic", async (c) => {
    const s = await c.messages.create({ model: "claude-sonnet-4-5", max_tokens: 200, messages: user, stream: true }, { headers: { "X-Fake-Tokens": "30", "X-Fake-Token-Delay-Us": "3000" } });
    const seen = [];
    for await (const ev of s) {
      seen.push(ev);
      if (seen.length === 4) s.controller.abort();
    }
    // How many already-buffered events still come after abort() is a race
    // (with or without the wrapper): compare the first four.
    return { first: seen.slice(0, 4), stopped: !seen.some((e) => e.type === "message_stop") };
  }],
];

async function main() {
  const raw = rawClients(args.fake);
  // Identity and pass-through: the wrapper changes nothing else.
  const w0 = llmtap.wrapOpenAI(raw.openai, { endpoint: args.url });
  expect(w0 instanceof OpenAI && w0.baseURL === raw.openai.baseURL && w0.models === raw.openai.models, "the wrapped client is not the client");
  expect(w0.chat.completions.create !== raw.openai.chat.completions.create, "create is not wrapped");
  const a0 = llmtap.wrapAnthropic(raw.anthropic, { endpoint: args.url });
  expect(a0 instanceof Anthropic && a0.apiKey === raw.anthropic.apiKey, "the wrapped Anthropic client is not the client");

  const seen = {};
  for (const [name, which, call] of CASES) {
    const opts = { ...COMMON, endpoint: args.url, session: name, streamUsage: name === "chat-stream-injected" };
    const wrapped = which === "openai" ? llmtap.wrapOpenAI(raw.openai, opts) : llmtap.wrapAnthropic(raw.anthropic, opts);
    const bare = stable(await call(raw[which]));
    const got = await call(wrapped);
    const tapped = stable(got);
    expect(bare === tapped, `${name}: the app saw different bytes with the wrapper (${bare.length} / ${tapped.length} bytes):\n  bare:    ${bare.slice(0, 300)}\n  wrapped: ${tapped.slice(0, 300)}`);
    seen[name] = got;
  }
  // Stream objects are the SDK's own.
  const s = await llmtap.wrapOpenAI(raw.openai, { endpoint: args.url, session: "stream-type" }).chat.completions.create({ model: "gpt-4o-mini", messages: user, stream: true });
  const sr = await raw.openai.chat.completions.create({ model: "gpt-4o-mini", messages: user, stream: true });
  expect(Object.getPrototypeOf(s) === Object.getPrototypeOf(sr) && typeof s.tee === "function", "the stream is not the SDK's Stream");
  const [left, right] = s.tee();
  const l = stable(await drain(left));
  expect(l === stable(await drain(right)) && l === stable(await drain(sr)), "tee() of a wrapped stream differs");

  // withResponse() still gives the raw Response and the data.
  const wr = await llmtap.wrapOpenAI(raw.openai, { endpoint: args.url, session: "with-response" }).chat.completions.create({ model: "gpt-4o-mini", messages: user }).withResponse();
  expect(wr.response.status === 200 && wr.data.choices.length === 1, "withResponse() broke");

  // Parent/child: a trace with a tool span and a wrapped call inside.
  const traced = llmtap.wrapOpenAI(raw.openai, { ...COMMON, endpoint: args.url, session: "traced" });
  const value = await llmtap.trace("support-turn", async (root) => {
    await llmtap.trace("lookup", async (t) => t.update({ input: { order: "4417" }, output: "in transit" }), { kind: "tool" });
    await traced.chat.completions.create({ model: "gpt-4o-mini", messages: user });
    return root.spanId;
  }, { session: "traced", user: "u-trace", kind: "agent" });
  expect(typeof value === "string" && /^[0-9a-f]{16}$/.test(value), "trace() did not pass its handle / return fn's value");
  let thrown = null;
  try {
    await llmtap.trace("boom", async () => { throw new RangeError("app bug"); }, { session: "traced-error" });
  } catch (e) {
    thrown = e;
  }
  expect(thrown instanceof RangeError && thrown.message === "app bug", "trace() changed the app's exception");
  const h = llmtap.startSpan("manual", { session: "manual", kind: "retrieval", input: "query" });
  await h.run(() => traced.embeddings.create({ model: "text-embedding-3-small", input: "parcel" }));
  h.end({ output: "3 documents" });

  // A span that cannot be serialised (circular variables) costs only itself.
  const circ = { a: 1 };
  circ.self = circ;
  const bad = llmtap.wrapOpenAI(raw.openai, { endpoint: args.url, session: "circular", prompt: { name: "x", version: 1, variables: circ } });
  const r = await bad.chat.completions.create({ model: "gpt-4o-mini", messages: user });
  expect(r.choices.length === 1, "the call with a bad span failed");

  await llmtap.flush();
  const st = llmtap.stats();
  expect(st.failed === 1 && st.dropped === 0 && st.rejected === 0 && st.pending === 0 && st.sent === st.queued - 1,
    `stats: ${JSON.stringify(st)}`);
  check(seen, st);
  console.log(`main: ${CASES.length} cases byte-identical, ${st.sent} spans sent and checked`);
}

function rows(sql) {
  return JSON.parse(execFileSync(args.llmtap, ["query", "--db", args.db, "--json", sql]));
}

function check(seen, st) {
  const all = rows("SELECT session_id, name, kind, provider, model, response_model, status, error_code, error_message, " +
    "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, ttft_ms, user_id, tenant, version_set, " +
    "prompt_name, prompt_version, prompt_vars, tags, trace_id, span_id, parent_span_id, input, output, params, start_ns, end_ns FROM spans");
  expect(all.length === st.sent, `${all.length} spans stored, ${st.sent} sent`);
  const by = {};
  for (const r of all) (by[r.session_id] ??= []).push(r);
  const one = (s) => {
    expect((by[s] ?? []).length === 1, `${s}: ${(by[s] ?? []).length} spans`);
    return by[s][0];
  };
  for (const [name, which] of CASES) {
    const r = one(name);
    expect(r.provider === which, `${name}: provider ${r.provider}`);
    expect(r.user_id === "u-7" && r.tenant === "acme" && r.prompt_name === "support" && r.prompt_version === 3, `${name}: attribution ${JSON.stringify(r)}`);
    expect(JSON.parse(r.prompt_vars).order === "4417" && JSON.parse(r.tags).includes("sdk-test"), `${name}: prompt variables / tags`);
    expect(r.version_set.includes("app=1.4.2"), `${name}: version_set ${r.version_set}`);
    expect(/^[0-9a-f]{32}$/.test(r.trace_id) && /^[0-9a-f]{16}$/.test(r.span_id) && r.parent_span_id === null, `${name}: ids`);
    expect(r.end_ns >= r.start_ns && r.end_ns - r.start_ns < 60e9, `${name}: times`);
    expect(r.input && r.input.includes("parcel"), `${name}: input not stored`);
  }
  const ok = (n) => expect(one(n).status === "ok", `${n}: status ${one(n).status} ${one(n).error_code}`);
  // chat
  const cp = seen["chat-plain"];
  let r = one("chat-plain");
  ok("chat-plain");
  expect(r.model === "gpt-4o-mini" && r.response_model === cp.model && r.kind === "llm", "chat-plain: model");
  expect(r.input_tokens === cp.usage.prompt_tokens && r.output_tokens === cp.usage.completion_tokens, "chat-plain: tokens");
  expect(JSON.parse(r.output).content === cp.choices[0].message.content, "chat-plain: output");
  expect(JSON.parse(r.params).temperature === 0.2 && JSON.parse(r.params).max_tokens === 64, "chat-plain: params");
  expect(r.ttft_ms === null, "chat-plain: a plain call has no TTFT");
  r = one("chat-cached");
  const cc = seen["chat-cached"].usage;
  expect(r.input_tokens === cc.prompt_tokens && r.cache_read_tokens === 7 && r.reasoning_tokens === 2, `chat-cached: ${JSON.stringify(r)}`);
  for (const n of ["chat-stream", "chat-stream-injected", "chat-stream-usage", "responses-stream", "messages-stream", "messages-helper"]) {
    ok(n);
    expect(one(n).ttft_ms !== null && one(n).ttft_ms >= 0 && one(n).ttft_ms * 1e6 <= one(n).end_ns - one(n).start_ns, `${n}: ttft ${one(n).ttft_ms}`);
  }
  const text = (evs) => evs.map((c) => c.choices[0]?.delta?.content ?? "").join("");
  r = one("chat-stream");
  expect(JSON.parse(r.output).content === text(seen["chat-stream"]) && r.output_tokens === null, "chat-stream: output / no usage asked");
  r = one("chat-stream-injected");
  const inj = seen["chat-stream-injected"];
  expect(inj.every((c) => c.choices.length > 0 && !("usage" in c)), "chat-stream-injected: the app saw the usage the shim asked for");
  expect(r.output_tokens === inj.length - 2 && r.input_tokens > 0 && JSON.parse(r.output).content === text(inj),
    `chat-stream-injected: tokens ${r.input_tokens}/${r.output_tokens} for ${inj.length} chunks`);
  expect(JSON.parse(r.params).stream_options === undefined, "chat-stream-injected: params show the injected stream_options");
  r = one("chat-stream-usage");
  const su = seen["chat-stream-usage"].at(-1).usage;
  expect(r.input_tokens === su.prompt_tokens && r.output_tokens === su.completion_tokens, "chat-stream-usage: tokens");
  r = one("chat-tools");
  expect(r.output.includes("lookup_order") && JSON.parse(r.output).tool_calls?.[0]?.name === "lookup_order", `chat-tools: ${r.output}`);
  // responses
  const rp = seen["responses-plain"];
  r = one("responses-plain");
  ok("responses-plain");
  expect(r.input_tokens === rp.usage.input_tokens && r.output_tokens === rp.usage.output_tokens && JSON.parse(r.output).content === rp.output_text,
    "responses-plain: tokens / output");
  expect(JSON.parse(r.input)[0].role === "system", "responses-plain: instructions");
  const done = seen["responses-stream"].at(-1);
  r = one("responses-stream");
  expect(done.type === "response.completed" && r.output_tokens === done.response.usage.output_tokens, "responses-stream: tokens");
  // messages: input includes the cache
  const mp = seen["messages-plain"].usage;
  r = one("messages-plain");
  ok("messages-plain");
  expect(r.input_tokens === mp.input_tokens + 11 + 5 && r.cache_read_tokens === 11 && r.cache_write_tokens === 5 && r.output_tokens === mp.output_tokens,
    `messages-plain: tokens ${JSON.stringify(r)} for ${JSON.stringify(mp)}`);
  expect(JSON.parse(r.input)[0].role === "system" && r.response_model === seen["messages-plain"].model, "messages-plain: system / model");
  r = one("messages-stream");
  const ms = seen["messages-stream"];
  const mtext = ms.filter((e) => e.type === "content_block_delta").map((e) => e.delta.text).join("");
  expect(JSON.parse(r.output).content === mtext && r.output_tokens === ms.find((e) => e.type === "message_delta").usage.output_tokens, "messages-stream");
  r = one("messages-helper");
  expect(JSON.parse(r.output).content === seen["messages-helper"].text && r.output_tokens === seen["messages-helper"].final.usage.output_tokens,
    `messages-helper: ${r.output} ${r.output_tokens} for ${JSON.stringify(seen["messages-helper"])}`);
  r = one("embeddings");
  ok("embeddings");
  const ea = rows("SELECT attributes FROM spans WHERE session_id = 'embeddings'")[0].attributes;
  expect(JSON.parse(ea)["embedding.count"] === 2 && JSON.parse(ea)["embedding.dimensions"] === 1536, `embeddings: attributes ${ea}`);
  expect(r.kind === "embedding" && r.input_tokens === seen.embeddings.usage.prompt_tokens && !r.output?.includes("0."), "embeddings: kind / tokens / no vectors");
  // errors are recorded, and the app got them unchanged (compared above)
  expect(seen["chat-error"].status === 500 && seen["chat-error"].cls === "InternalServerError", `chat-error: the app saw ${JSON.stringify(seen["chat-error"])}`);
  r = one("chat-error");
  expect(r.status === "error" && r.error_code === "server_error" && r.error_message.length > 0, `chat-error: ${r.status} ${r.error_code}`);
  r = one("messages-error");
  expect(r.status === "error" && r.error_code === "rate_limit_error", `messages-error: ${r.status} ${r.error_code}`);
  r = one("chat-midstream");
  expect(seen["chat-midstream"].cls !== "none" && r.status === "error" && r.error_message.length > 0 && r.ttft_ms !== null,
    `chat-midstream: ${r.status} ${r.error_code} (the app saw ${seen["chat-midstream"].cls})`);
  r = one("chat-n5-stream");
  expect(r.status === "ok" && JSON.parse(r.output).length === 5, `chat-n3-stream: ${r.status} ${r.output}`);
  // abandoned / aborted streams: cancelled, with what was seen
  r = one("chat-abandoned");
  expect(r.status === "cancelled" && JSON.parse(r.output).content === text(seen["chat-abandoned"]) && r.ttft_ms !== null, `chat-abandoned: ${r.status} ${r.output}`);
  r = one("messages-aborted");
  expect(r.status === "cancelled" && r.input_tokens > 0, `messages-aborted: ${r.status} ${r.input_tokens}`);
  // the trace tree
  const tr = by.traced ?? [];
  const root = tr.find((x) => x.name === "support-turn");
  const tool = tr.find((x) => x.name === "lookup");
  const call = tr.find((x) => x.provider === "openai");
  expect(tr.length === 3 && root && tool && call, `traced: ${tr.length} spans`);
  expect(root.kind === "agent" && root.parent_span_id === null && tool.kind === "tool", "traced: kinds / root");
  expect(tool.parent_span_id === root.span_id && call.parent_span_id === root.span_id, "traced: parent ids");
  expect(tool.trace_id === root.trace_id && call.trace_id === root.trace_id, "traced: trace ids");
  expect(call.user_id === "u-trace" && call.tenant === "acme", `traced: the trace's user wins: ${call.user_id}`);
  expect(JSON.parse(tool.output) === "in transit" && tool.start_ns >= root.start_ns && tool.end_ns <= root.end_ns, `traced: tool span ${JSON.stringify([tool, root])}`);
  r = one("traced-error");
  expect(r.status === "error" && r.error_message === "app bug", `traced-error: ${r.status} ${r.error_message}`);
  const man = by.manual ?? [];
  expect(man.length === 2 && man.some((x) => x.kind === "retrieval") && man.some((x) => x.kind === "embedding"), `manual: ${man.length}`);
  const mr = man.find((x) => x.kind === "retrieval");
  expect(man.find((x) => x.kind === "embedding").parent_span_id === mr.span_id && JSON.parse(mr.output) === "3 documents", "manual: span.run() parent");
  expect(!by.circular, "circular: a span that cannot be serialised was stored");
}

// A local ingest endpoint: answers with 'answer(n, body)' -> [status, headers, body]
// or, when that returns null, forwards to the real llmtap.
function localServer(answer) {
  const seen = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ at: Date.now(), url: req.url, key: req.headers["llmtap-key"], body });
      const a = answer(seen.length, body);
      if (a) {
        res.writeHead(a[0], a[1]);
        res.end(a[2]);
        return;
      }
      const f = await fetch(args.url + req.url, { method: "POST", headers: { "content-type": "application/json" }, body });
      res.writeHead(f.status, { "content-type": "application/json" });
      res.end(await f.text());
    });
  });
  return new Promise((resolve) => srv.listen(0, "127.0.0.1", () => resolve({ srv, seen, url: `http://127.0.0.1:${srv.address().port}` })));
}

async function queue() {
  llmtap.configure({ endpoint: args.url, maxQueue: 5, batchSize: 1000, flushIntervalMs: 60000 });
  for (let i = 0; i < 8; i++) llmtap.startSpan(`q${i}`, { session: "queue" }).end();
  let st = llmtap.stats();
  expect(st.dropped === 3 && st.pending === 5 && st.sent === 0, `before flush: ${JSON.stringify(st)}`);
  await llmtap.flush();
  st = llmtap.stats();
  expect(st.sent === 5 && st.dropped === 3 && st.pending === 0, `after flush: ${JSON.stringify(st)}`);
  const names = rows("SELECT name FROM spans WHERE session_id = 'queue' ORDER BY name").map((r) => r.name).join(",");
  expect(names === "q3,q4,q5,q6,q7", `the queue kept ${names}, not the newest five`);
  console.log("queue: 8 spans into a queue of 5: the 3 oldest dropped and counted, the 5 newest stored");
}

async function retry() {
  const busy = { "content-type": "application/json", "retry-after": "1" };
  const err = '{"error":{"code":"UNAVAILABLE","type":"unavailable","message":"busy","retryable":true}}';
  const local = await localServer((n) => (n <= 2 ? [503, busy, err] : null));
  llmtap.configure({ endpoint: local.url, key: "lt-secret-key-1" });
  const t0 = Date.now();
  llmtap.startSpan("retried", { session: "retry" }).end();
  await llmtap.flush({ timeoutMs: 15000 });
  const st = llmtap.stats();
  local.srv.close();
  expect(local.seen.length === 3 && st.retries === 2 && st.sent === 1 && st.failed === 0, `seen ${local.seen.length}, stats ${JSON.stringify(st)}`);
  const gaps = [local.seen[1].at - local.seen[0].at, local.seen[2].at - local.seen[1].at];
  expect(gaps.every((g) => g >= 950), `Retry-After: 1 not honoured: gaps ${gaps} ms`);
  expect(local.seen.every((s) => s.key === "lt-secret-key-1" && s.body === local.seen[0].body), "LLMTap-Key / the same batch was not resent");
  expect(rows("SELECT count(*) AS n FROM spans WHERE session_id = 'retry'")[0].n === 1, "the retried span is not stored once");
  console.log(`retry: two 503s with Retry-After: 1 (waited ${gaps.join(" and ")} ms), then stored once (${Date.now() - t0} ms)`);
}

async function closedPort() {
  const s = http.createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

async function down() {
  const raw = rawClients(args.fake);
  const endpoint = await closedPort();
  const o = llmtap.wrapOpenAI(raw.openai, { endpoint, maxRetries: 1, maxBackoffMs: 50, batchSize: 2 });
  const a = llmtap.wrapAnthropic(raw.anthropic, { endpoint });
  for (let i = 0; i < 5; i++) {
    const r = await o.chat.completions.create({ model: "gpt-4o-mini", messages: user });
    expect(r.choices.length === 1, "a call failed while llmtap was down");
    expect((await drain(await o.chat.completions.create({ model: "gpt-4o-mini", messages: user, stream: true }))).length > 2, "a stream failed");
  }
  const m = await a.messages.create({ model: "claude-sonnet-4-5", max_tokens: 50, messages: user });
  expect(m.content.length > 0, "anthropic failed while llmtap was down");
  await llmtap.flush({ timeoutMs: 5000 });
  const st = llmtap.stats();
  expect(st.failed === 11 && st.sent === 0 && st.pending === 0, `stats: ${JSON.stringify(st)}`);
  console.log(`down: 11 calls answered normally with llmtap down; ${st.failed} spans counted as failed`);
}

async function exitFlush() {
  const raw = rawClients(args.fake);
  const o = llmtap.wrapOpenAI(raw.openai, { endpoint: args.url, session: "exit-flush", flushIntervalMs: 60000 });
  await o.chat.completions.create({ model: "gpt-4o-mini", messages: user });
  // no flush(): the beforeExit hook sends it
}

async function disabled() {
  expect(process.env.LLMTAP_DISABLED === "1", "run with LLMTAP_DISABLED=1");
  const local = await localServer(() => [200, {}, "{}"]);
  const raw = rawClients(args.fake);
  const o = llmtap.wrapOpenAI(raw.openai, { endpoint: local.url });
  const a = llmtap.wrapAnthropic(raw.anthropic, { endpoint: local.url });
  expect(o === raw.openai && a === raw.anthropic, "disabled: the wrappers did not return the client itself");
  llmtap.configure({ endpoint: local.url });
  const v = await llmtap.trace("t", async () => {
    await o.chat.completions.create({ model: "gpt-4o-mini", messages: user });
    return 42;
  });
  llmtap.startSpan("s").end();
  await llmtap.flush();
  await new Promise((r) => setTimeout(r, 300));
  local.srv.close();
  const st = llmtap.stats();
  expect(v === 42 && local.seen.length === 0 && st.queued === 0, `disabled: ${local.seen.length} requests, stats ${JSON.stringify(st)}`);
  console.log("disabled: the clients are returned untouched and nothing was sent");
}

const run = { main, queue, retry, down, exit: exitFlush, disabled }[mode];
if (!run) fail(`unknown mode ${mode}`);
await run();
