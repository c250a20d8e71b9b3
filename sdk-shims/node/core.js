// core.js: configuration, ids, clocks, the current-span context and the
// span handles of trace() / startSpan().
//
// Records (a handle here, or a call record from a wrapper) are queued by
// reference; their toSpan() runs later in the exporter, off the app's call
// path. Attribution (user, session, tenant, version_set, prompt, project,
// tags) is resolved at that time: the innermost trace() handle wins over
// the wrapper's options, which win over the environment.

import { AsyncLocalStorage } from "node:async_hooks";
import { randomFillSync } from "node:crypto";
import { Exporter } from "./exporter.js";

const DEFAULTS = {
  endpoint: "http://127.0.0.1:4318",
  batchSize: 100,
  flushIntervalMs: 1000,
  maxQueue: 10000,
  maxRetries: 5,
  maxBackoffMs: 30000,
  requestTimeoutMs: 10000,
  exitFlushTimeoutMs: 2000,
};
const SETTINGS = ["endpoint", "key", ...Object.keys(DEFAULTS).slice(1)];

let globalOptions = {};
const exporters = new Map();
export const context = new AsyncLocalStorage();

export function isDisabled(opts) {
  const v = opts && opts.disabled;
  if (v !== undefined && v !== null) return Boolean(v);
  const e = process.env.LLMTAP_DISABLED;
  return e !== undefined && e !== "" && e !== "0" && e.toLowerCase() !== "false";
}

let configured = false;
export function configure(opts) {
  try {
    configured = true;
    globalOptions = { ...globalOptions, ...(opts || {}) };
  } catch {
    /* never break the app */
  }
}

// Until configure() is called, the first wrapper's connection settings
// (endpoint, key, batching) are the defaults of trace() and startSpan(),
// so that a trace and its calls go to the same server.
export function adoptDefaults(opts) {
  if (configured || !opts) return;
  configured = true;
  const o = {};
  for (const k of SETTINGS) if (opts[k] !== undefined) o[k] = opts[k];
  globalOptions = { ...globalOptions, ...o };
}

// "name@7" or {name, version, variables} -> the native `prompt` object.
export function normPrompt(p) {
  if (p === undefined || p === null) return undefined;
  if (typeof p === "string") {
    const at = p.lastIndexOf("@");
    if (at <= 0) return { name: p };
    const v = p.slice(at + 1);
    return { name: p.slice(0, at), version: /^\d+$/.test(v) ? Number(v) : v };
  }
  if (typeof p !== "object") return undefined;
  const out = { name: p.name };
  if (p.version !== undefined) out.version = p.version;
  if (p.variables !== undefined) out.variables = p.variables;
  return out;
}

// The attribution an option object carries, in native field names.
export function attribution(o) {
  const a = {};
  if (!o) return a;
  if (o.user !== undefined) a.user = String(o.user);
  if (o.session !== undefined) a.session = String(o.session);
  if (o.tenant !== undefined) a.tenant = String(o.tenant);
  if (o.versionSet !== undefined) a.version_set = String(o.versionSet);
  if (o.project !== undefined) a.project = String(o.project);
  const p = normPrompt(o.prompt);
  if (p) a.prompt = p;
  if (Array.isArray(o.tags)) a.tags = o.tags.map(String);
  return a;
}

function envAttribution() {
  const a = {};
  if (process.env.LLMTAP_PROJECT) a.project = process.env.LLMTAP_PROJECT;
  if (process.env.LLMTAP_VERSION_SET) a.version_set = process.env.LLMTAP_VERSION_SET;
  return a;
}

// Options (per wrapper or per handle) over configure() over env over defaults.
export function resolve(opts) {
  const o = { ...globalOptions, ...(opts || {}) };
  const cfg = {};
  for (const k of SETTINGS) cfg[k] = o[k] ?? DEFAULTS[k];
  cfg.endpoint = o.endpoint ?? process.env.LLMTAP_ENDPOINT ?? DEFAULTS.endpoint;
  cfg.key = o.key ?? process.env.LLMTAP_KEY ?? null;
  cfg.attrib = { ...envAttribution(), ...attribution(o) };
  return cfg;
}

const toSpan = (rec) => rec.toSpan();

export function exporterFor(cfg) {
  const id = cfg.endpoint + "\u0000" + (cfg.key ?? "");
  let ex = exporters.get(id);
  if (!ex) {
    ex = new Exporter(cfg, toSpan);
    exporters.set(id, ex);
    installExitHook(cfg.exitFlushTimeoutMs);
  }
  return ex;
}

// beforeExit fires when the event loop runs dry (not on process.exit() or
// a signal): send what is queued, for at most exitFlushTimeoutMs. It fires
// again after our work; 'lastQueued' stops a loop when nothing new came.
let exitHooked = false;
function installExitHook(ms) {
  if (exitHooked) return;
  exitHooked = true;
  let lastQueued = -1;
  process.on("beforeExit", () => {
    try {
      let pending = 0;
      let queued = 0;
      for (const ex of exporters.values()) {
        pending += ex.pending;
        queued += ex.stats.queued;
      }
      if (pending === 0 || queued === lastQueued) return;
      lastQueued = queued;
      const until = Date.now() + ms;
      for (const ex of exporters.values()) ex.giveUpAt = until;
      flush({ timeoutMs: ms }).finally(() => {
        for (const ex of exporters.values()) ex.giveUpAt = 0;
      });
    } catch {
      /* never break the app's exit */
    }
  });
}

export function flush(opts) {
  try {
    const ms = (opts && opts.timeoutMs) ?? 10000;
    const all = [...exporters.values()].map((ex) => ex.flush(ms));
    return Promise.all(all).then(
      () => undefined,
      () => undefined,
    );
  } catch {
    return Promise.resolve();
  }
}

export function stats() {
  const s = { queued: 0, sent: 0, dropped: 0, failed: 0, rejected: 0, retries: 0, batches: 0, pending: 0 };
  for (const ex of exporters.values()) {
    for (const k of Object.keys(ex.stats)) s[k] += ex.stats[k];
    s.pending += ex.pending;
  }
  return s;
}

// --- clocks and ids ---------------------------------------------------

const epochOffset = BigInt(Date.now()) * 1000000n - process.hrtime.bigint();
export const now = () => process.hrtime.bigint();
export const nsString = (t) => (epochOffset + t).toString();
export const msBetween = (a, b) => Number(b - a) / 1e6;

const pool = Buffer.alloc(4096);
let poolAt = pool.length;
function randomHex(bytes) {
  for (;;) {
    if (poolAt + bytes > pool.length) {
      randomFillSync(pool);
      poolAt = 0;
    }
    const hex = pool.toString("hex", poolAt, poolAt + bytes);
    poolAt += bytes;
    if (!/^0+$/.test(hex)) return hex;
  }
}
export const newTraceId = () => randomHex(16);
export const newSpanId = () => randomHex(8);

export function errorInfo(e) {
  if (e === undefined || e === null) return undefined;
  if (typeof e !== "object") return { code: "error", message: String(e) };
  const body = e.error && typeof e.error === "object" ? e.error : null;
  const inner = body && body.error && typeof body.error === "object" ? body.error : body;
  let code = e.code ?? inner?.code ?? e.type ?? inner?.type ?? null;
  if (code === null && typeof e.status === "number") code = `HTTP_${e.status}`;
  if (code === null) code = e.name || "error";
  return { code: String(code), message: String(e.message ?? inner?.message ?? e) };
}

export function isAbort(e) {
  return !!e && (e.name === "AbortError" || e.name === "APIUserAbortError" || /abort/i.test(e.constructor?.name ?? ""));
}

// Fills the fields every span shares: ids, parent, attribution, times.
// 'parent' is the handle that was current at the call (or null), 'own' the
// attribution of the wrapper or handle options.
export function fillCommon(span, rec) {
  const p = rec.parent;
  // Ids are made here, once, and kept: a span serialised again (a retry of
  // part of a batch) must keep them so the server sees a duplicate.
  span.trace_id = rec.traceId ??= p ? p.traceId : newTraceId();
  span.span_id = rec.spanId ??= newSpanId();
  if (p) span.parent_span_id = p.spanId;
  const a = p ? { ...rec.attrib, ...p.attrib } : rec.attrib;
  for (const k of ["project", "user", "session", "tenant", "version_set", "prompt"]) {
    if (a[k] !== undefined) span[k] = a[k];
  }
  const tags = [...(rec.attrib.tags ?? []), ...((p && p.attrib.tags) ?? [])];
  if (tags.length) span.tags = [...new Set(tags)];
  span.start_ns = nsString(rec.start);
  if (rec.end !== undefined) span.end_ns = nsString(rec.end);
}

// --- handles: trace() and startSpan() ---------------------------------

const KINDS = new Set(["llm", "embedding", "tool", "retrieval", "agent", "chain", "guardrail", "evaluator", "other"]);

export class SpanHandle {
  constructor(name, opts, parent, cfg, ex) {
    this.name = String(name ?? "span");
    this.kind = KINDS.has(opts.kind) ? opts.kind : "chain";
    this.parent = parent;
    this.traceId = parent ? parent.traceId : newTraceId();
    this.spanId = newSpanId();
    this.parentSpanId = parent ? parent.spanId : null;
    this.attrib = parent ? { ...cfg.attrib, ...parent.attrib, ...attribution(opts) } : cfg.attrib;
    if (parent && (parent.attrib.tags || cfg.attrib.tags)) {
      this.attrib.tags = [...new Set([...(parent.attrib.tags ?? []), ...(cfg.attrib.tags ?? [])])];
    }
    this.fields = {};
    if (opts.input !== undefined) this.fields.input = opts.input;
    if (opts.attributes) this.fields.attributes = { ...opts.attributes };
    this.start = now();
    this.ended = false;
    this.ex = ex;
  }

  // Sets native fields on the span before it ends (output, usage, model...).
  update(fields) {
    try {
      if (fields && typeof fields === "object") Object.assign(this.fields, fields);
    } catch {
      /* never break the app */
    }
    return this;
  }

  setAttribute(key, value) {
    try {
      (this.fields.attributes ??= {})[key] = value;
    } catch {
      /* never break the app */
    }
    return this;
  }

  // Runs 'fn' with this span as the parent of the calls it makes.
  run(fn, ...args) {
    return context.run(this, fn, ...args);
  }

  // Ends the span once ('fields' as for update(); `error` may be an Error).
  end(fields) {
    try {
      if (this.ended) return;
      this.ended = true;
      this.end_t = now();
      if (fields && typeof fields === "object") {
        const { error, ...rest } = fields;
        Object.assign(this.fields, rest);
        if (error !== undefined) this.fields.error = errorInfo(error);
      }
      this.ex.enqueue(this);
    } catch {
      /* never break the app */
    }
  }

  toSpan() {
    const span = { name: this.name, kind: this.kind };
    fillCommon(span, { parent: null, attrib: this.attrib, start: this.start, end: this.end_t,
      traceId: this.traceId, spanId: this.spanId });
    if (this.parentSpanId) span.parent_span_id = this.parentSpanId;
    for (const [k, v] of Object.entries(this.fields)) if (v !== undefined) span[k] = v;
    if (span.error && !span.status) span.status = "error";
    return span;
  }
}

// The handle given when llmtap is disabled or cannot make one.
export const NOOP_SPAN = Object.freeze({
  traceId: null,
  spanId: null,
  update() {
    return this;
  },
  setAttribute() {
    return this;
  },
  run(fn, ...args) {
    return fn(...args);
  },
  end() {},
});

export function startSpan(name, opts) {
  try {
    opts = opts || {};
    if (isDisabled(opts)) return NOOP_SPAN;
    const cfg = resolve(opts);
    let parent = opts.parent === undefined ? context.getStore() ?? null : opts.parent;
    if (parent === NOOP_SPAN) parent = null;
    return new SpanHandle(name, opts, parent, cfg, exporterFor(cfg));
  } catch {
    return NOOP_SPAN;
  }
}

// Runs fn(span) inside a span that ends when fn returns or its promise
// settles; calls made by wrapped clients inside become its children. fn's
// result (or exception) is returned (thrown) unchanged.
export function trace(name, fn, opts) {
  if (typeof name === "function") {
    opts = fn;
    fn = name;
    name = fn.name || "trace";
  }
  const h = startSpan(name, opts);
  if (h === NOOP_SPAN) return fn(h);
  let r;
  try {
    r = context.run(h, fn, h);
  } catch (e) {
    h.end({ error: e });
    throw e;
  }
  if (r && typeof r.then === "function") {
    return r.then(
      (v) => {
        h.end();
        return v;
      },
      (e) => {
        h.end({ error: e });
        throw e;
      },
    );
  }
  h.end();
  return r;
}

export function currentSpan() {
  return context.getStore() ?? null;
}
