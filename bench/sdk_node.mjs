// bench/sdk_node.mjs: what the Node shim (sdk-shims/node) adds to each call
// (issue 8 item 6). Starts the fake upstream and a live `llmtap serve`
// from $BUILD (default build), then makes the same plain chat call with
// the bare `openai` client and with wrapOpenAI() around it (spans really
// sent, in background batches, to the server), in alternating blocks of
// $SDK_BLOCK (100) calls — ABAB… with the order swapped every other pair
// to cancel drift — after $SDK_WARMUP (500) warm-up calls of each.
// Prints per-call p50 / p95 for both, the added time per call as the
// difference of the medians (the headline figure) and as the median of
// the paired differences (call i of a bare block against call i of the
// wrapped block next to it), and the same for $SDK_STREAMS (1,000)
// streamed calls. Target: added ≤ 50 µs per call at the median.
//   node bench/sdk_node.mjs            (make bench-sdk)
//   SDK_CALLS=20000 node bench/sdk_node.mjs
//   SDK_HOLD=1 node bench/sdk_node.mjs  (spans held until the end: no sending in the figures)
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const BUILD = process.env.BUILD ?? "build";
const CALLS = Number(process.env.SDK_CALLS ?? 10000);
const STREAMS = Number(process.env.SDK_STREAMS ?? 1000);
const BLOCK = Number(process.env.SDK_BLOCK ?? 100);
const WARMUP = Number(process.env.SDK_WARMUP ?? 500);
const TARGET_US = 50;

const { default: OpenAI } = await import(join(root, "tests/clients/node_modules/openai/index.mjs"));
const llmtap = await import(join(root, "sdk-shims/node/index.js"));

const tmp = mkdtempSync(join(tmpdir(), "llmtap-sdk-bench-"));
const children = [];
function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  rmSync(tmp, { recursive: true, force: true });
}
process.on("exit", cleanup);

function start(bin, args) {
  const path = join(root, BUILD, bin);
  if (!existsSync(path)) {
    console.error(`sdk bench: ${path} is not built (run: make bench-sdk)`);
    process.exit(1);
  }
  const c = spawn(path, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(c);
  return c;
}

async function waitFor(fn, what) {
  for (let i = 0; i < 200; i++) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  console.error(`sdk bench: ${what} did not start`);
  process.exit(1);
}

const fake = start("llmtap-fakeup", ["--listen", "127.0.0.1:0"]);
let fakeOut = "";
fake.stdout.on("data", (d) => (fakeOut += d));
fake.stderr.on("data", (d) => (fakeOut += d));
const fakeUrl = await waitFor(() => /fakeup listening on (http:\S+)/.exec(fakeOut)?.[1], "the fake upstream");
const db = join(tmp, "bench.db");
start("llmtap", ["serve", "--db", db, "--listen", "127.0.0.1:0"]);
const serverUrl = await waitFor(() => {
  try {
    return JSON.parse(readFileSync(`${db}.server`, "utf8")).url;
  } catch {
    return null;
  }
}, "llmtap serve");

let bare = new OpenAI({ apiKey: "sk-bench", baseURL: `${fakeUrl}/v1`, maxRetries: 0 });
// SDK_HOLD=1 (a diagnostic): spans wait in memory until the end, so the
// figures hold no sending and no ingest.
const hold = process.env.SDK_HOLD === "1" ? { batchSize: 1e9, flushIntervalMs: 1e9, maxQueue: 1e6 } : {};
let wrapped = llmtap.wrapOpenAI(bare, { endpoint: serverUrl, user: "bench", session: "bench", ...hold });
const body = { model: "gpt-4o-mini", messages: [{ role: "system", content: "You are brief." }, { role: "user", content: "Where is my parcel?" }] };
const opts = { headers: { "X-Fake-Tokens": "16" } };

async function plain(c) {
  const t0 = process.hrtime.bigint();
  await c.chat.completions.create(body, opts);
  return Number(process.hrtime.bigint() - t0) / 1000;
}

async function streamed(c) {
  const t0 = process.hrtime.bigint();
  const s = await c.chat.completions.create({ ...body, stream: true }, opts);
  for await (const _ of s);
  return Number(process.hrtime.bigint() - t0) / 1000;
}

// 'n' calls each, in alternating blocks; returns the µs of each call.
async function run(call, n) {
  const a = [];
  const b = [];
  const cpu = [0, 0];
  for (let i = 0; i < Math.min(WARMUP, n); i++) {
    await call(bare);
    await call(wrapped);
  }
  for (let blk = 0; a.length < n; blk++) {
    const k = Math.min(BLOCK, n - a.length);
    const order = blk % 2 === 0 ? [[bare, a], [wrapped, b]] : [[wrapped, b], [bare, a]];
    for (const [c, out] of order) {
      const u0 = process.cpuUsage();
      for (let i = 0; i < k; i++) out.push(await call(c));
      const u = process.cpuUsage(u0);
      cpu[c === bare ? 0 : 1] += u.user + u.system;
    }
    // Without the network the calls are pure microtasks: let timers and
    // I/O (the shim's sender among them) run between blocks, as any app
    // doing I/O would.
    await new Promise((r) => setImmediate(r));
  }
  return { bare: a, wrapped: b, cpu: cpu.map((x) => x / n) };
}

const q = (xs, p) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

function report(label, r) {
  const diffs = r.wrapped.map((w, i) => w - r.bare[i]);
  const m = { bare50: q(r.bare, 0.5), bare95: q(r.bare, 0.95), w50: q(r.wrapped, 0.5), w95: q(r.wrapped, 0.95), paired: q(diffs, 0.5) };
  const added = m.w50 - m.bare50;
  const f = (x) => x.toFixed(1).padStart(8);
  console.log(`${label} (${r.bare.length} calls each)`);
  console.log(`  bare     p50 ${f(m.bare50)} µs   p95 ${f(m.bare95)} µs`);
  console.log(`  wrapped  p50 ${f(m.w50)} µs   p95 ${f(m.w95)} µs`);
  console.log(`  added    ${f(added)} µs (difference of medians), ${f(m.paired)} µs (median of paired differences)`);
  console.log(`  node CPU per call: bare ${f(r.cpu[0])} µs, wrapped ${f(r.cpu[1])} µs (this process, sending included)`);
  return added;
}

const t0 = Date.now();
const ticker = process.env.SDK_TRACE === "1" ? setInterval(() => console.log(JSON.stringify(llmtap.stats())), 500) : null;
let added = null;
if (CALLS > 0) added = report("plain chat.completions.create", await run(plain, CALLS));
let addedStream = null;
if (STREAMS > 0) addedStream = report("streamed chat.completions.create (16 tokens)", await run(streamed, STREAMS));
// The same without the network: the SDK's `fetch` answers at once with the
// bytes the fake gave, so only the client's own work (and the shim's) is
// timed; spans still go to the server.
let inproc = null;
if (CALLS > 0) {
  const res = await fetch(`${fakeUrl}/v1/chat/completions`, { method: "POST", body: JSON.stringify(body),
    headers: { "content-type": "application/json", authorization: "Bearer sk-bench", "x-fake-tokens": "16" } });
  const canned = await res.text();
  const instant = async () => new Response(canned, { status: 200, headers: { "content-type": "application/json" } });
  bare = new OpenAI({ apiKey: "sk-bench", baseURL: "http://127.0.0.1:9/v1", maxRetries: 0, fetch: instant });
  wrapped = llmtap.wrapOpenAI(bare, { endpoint: serverUrl, user: "bench", session: "bench-inproc" });
  inproc = report("plain call, no network (the SDK's fetch answers at once)", await run(plain, CALLS));
}
await llmtap.flush({ timeoutMs: 30000 });
const st = llmtap.stats();
console.log(`spans: ${st.sent} sent, ${st.dropped} dropped, ${st.failed} failed, in ${st.batches} batches; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
if (added !== null) console.log(`target: added ≤ ${TARGET_US} µs per plain call at the median: ${added <= TARGET_US ? "met" : "MISSED"}` +
  (addedStream !== null ? ` (streamed: ${addedStream.toFixed(1)} µs)` : "") +
  (inproc !== null ? ` (no network: ${inproc.toFixed(1)} µs)` : ""));
if (process.env.SDK_TRACE === "1") clearInterval(ticker);
const expected = 2 * (CALLS + Math.min(WARMUP, CALLS)) + (STREAMS > 0 ? STREAMS + Math.min(WARMUP, STREAMS) : 0);
if (st.sent !== expected || st.dropped > 0 || st.failed > 0) {
  console.error(`sdk bench: ${st.sent} spans sent (${st.dropped} dropped, ${st.failed} failed), ${expected} expected`);
  process.exitCode = 1;
}
// The children's pipes would keep the event loop alive: stop them and go.
process.exit();
