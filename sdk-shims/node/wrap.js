// wrap.js: the Proxy around an SDK client, the call record, and the taps on
// the SDK's APIPromise and Stream.
//
// The app always gets the SDK's own objects back: the APIPromise the method
// returned (its parse() / asResponse() are observed, not replaced), and on
// `stream: true` the SDK's Stream, whose `iterator` is observed so that
// for-await, tee() and toReadableStream() all see the same events. A call
// record lives through: created (call made) -> [streaming] -> finished
// (queued once, by finish()). Every tap is guarded: a shim error is
// swallowed, an SDK error reaches the app unchanged.

import { context, fillCommon, now, msBetween, errorInfo, isAbort, NOOP_SPAN } from "./core.js";

const MAX_EVENTS = 100000;

export class CallRecord {
  // 'spec' maps this operation (openai.js, anthropic.js): op, provider, kind,
  // isContent(ev) (for TTFT), complete(events), fold(events), endStream, toSpan(rec, span),
  // and optionally keep(result), inject(body) / hide(ev).
  constructor(spec, body, wrapper) {
    this.spec = spec;
    this.body = shallow(body);
    this.stream = !!(body && body.stream === true);
    const p = context.getStore();
    this.parent = p && p !== NOOP_SPAN ? p : null;
    this.attrib = wrapper.attrib;
    this.ex = wrapper.ex;
    this.start = now();
    this.first = undefined;
    this.events = this.stream ? [] : null;
    this.result = undefined;
    this.status = undefined;
    this.error = undefined;
    this.done = false;
  }

  onEvent(ev) {
    if (this.first === undefined && this.spec.isContent(ev)) this.first = now();
    if (this.events && this.events.length < MAX_EVENTS) this.events.push(ev);
  }

  // A stream's chunks are folded into one result here, as it ends, so that
  // they die young instead of waiting for the batch in the old generation.
  finish(status, error) {
    if (this.done) return;
    this.done = true;
    this.end = now();
    this.status = status;
    this.error = error;
    if (this.events) {
      const events = this.events;
      this.events = null;
      this.result = guard(() => this.spec.fold(events));
    }
    this.ex.enqueue(this);
  }

  fail(e) {
    this.finish(isAbort(e) ? "cancelled" : "error", errorInfo(e));
  }

  // Off the call path (in the exporter): the native span.
  toSpan() {
    const span = { kind: this.spec.kind, provider: this.spec.provider };
    fillCommon(span, this);
    const b = this.body || {};
    if (typeof b.model === "string") span.model = b.model;
    span.name = `${this.spec.op} ${span.model ?? ""}`.trim();
    if (this.first !== undefined) span.latency = { ttft_ms: msBetween(this.start, this.first) };
    this.spec.toSpan(this, span);
    if (this.status && this.status !== "ok") span.status = this.status;
    if (this.error) span.error = this.error;
    return span;
  }
}

// A copy of the request's top level and its arrays, so that an app pushing
// onto its `messages` after the call does not change what was recorded.
function shallow(body) {
  if (!body || typeof body !== "object") return body;
  const b = { ...body };
  for (const k of ["messages", "input", "tools"]) if (Array.isArray(b[k])) b[k] = b[k].slice();
  return b;
}

// Observes the APIPromise 'p' without parsing its body early: the span
// learns the result when the app (or the SDK) calls parse(), which then,
// catch, finally and withResponse all do. asResponse() alone ends the span
// with the HTTP status only.
function tapPromise(p, rec) {
  if (!p || typeof p.then !== "function") {
    rec.result = p;
    rec.finish("ok");
    return;
  }
  const settle = (v) => onResult(v, rec);
  const failed = (e) => guard(() => rec.fail(e));
  if (typeof p.parse !== "function") {
    p.then(settle, failed);
    return;
  }
  let tapped = false;
  const parse = p.parse;
  p.parse = function () {
    const r = parse.apply(this, arguments);
    if (!tapped) {
      tapped = true;
      guard(() => r.then(settle, failed));
    }
    return r;
  };
  const asResponse = p.asResponse;
  if (typeof asResponse === "function") {
    p.asResponse = function () {
      const r = asResponse.apply(this, arguments);
      guard(() =>
        r.then(
          (res) => tapped || guard(() => rec.finish(res && res.ok === false ? "error" : "ok")),
          (e) => tapped || failed(e),
        ),
      );
      return r;
    };
  }
}

function onResult(v, rec) {
  guard(() => {
    if (rec.stream && v && typeof v === "object" && typeof v.iterator === "function") {
      tapStream(v, rec);
    } else {
      rec.result = rec.spec.keep ? rec.spec.keep(v) : v;
      rec.finish("ok");
    }
  });
}

function tapStream(stream, rec) {
  const iterator = stream.iterator;
  stream.iterator = function () {
    const it = iterator.apply(this, arguments);
    return observe(it, rec, stream);
  };
}

// Yields exactly what 'it' yields (the same results, the same promises'
// outcomes), one promise step per event rather than an async generator's
// several. A consumer that stops early (break / return in for-await) is
// passed on to it.return(), so the SDK aborts the request as it would
// have; the span then says `cancelled`.
function observe(it, rec, stream) {
  let finished = false;
  const end = (abandoned) => {
    if (finished) return;
    finished = true;
    guard(() => rec.spec.endStream(rec, stream, abandoned));
  };
  const seen = (r) => {
    if (r && r.done) end(false);
    else if (!finished) {
      guard(() => rec.onEvent(r.value));
      // What the shim asked for on the app's behalf is taken out again.
      if (rec.injected && guard(() => rec.spec.hide(r.value))) return it.next().then(seen, failed);
    }
    return r;
  };
  const failed = (e) => {
    if (!finished) {
      finished = true;
      guard(() => rec.fail(e));
    }
    throw e;
  };
  return {
    next(...a) {
      return it.next(...a).then(seen, failed);
    },
    return(v) {
      end(true);
      return typeof it.return === "function" ? it.return(v) : Promise.resolve({ done: true, value: v });
    },
    throw(e) {
      end(true);
      return typeof it.throw === "function" ? it.throw(e) : Promise.reject(e);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

export function guard(fn) {
  try {
    return fn();
  } catch (e) {
    if (process.env.LLMTAP_DEBUG === "1") {
      try {
        process.stderr.write(`llmtap: shim error: ${e && e.stack}\n`);
      } catch {
        /* nothing to do */
      }
    }
    return undefined;
  }
}

function wrapMethod(real, target, spec, wrapper) {
  return function llmtapWrapped(body) {
    const rec = guard(() => new CallRecord(spec, body, wrapper));
    let args = arguments;
    if (rec && spec.inject && wrapper.streamUsage) {
      const asked = guard(() => spec.inject(body));
      if (asked) {
        rec.injected = true;
        args = [asked, ...Array.prototype.slice.call(arguments, 1)];
      }
    }
    let p;
    try {
      p = real.apply(target, args);
    } catch (e) {
      if (rec) guard(() => rec.fail(e));
      throw e;
    }
    if (rec) guard(() => tapPromise(p, rec));
    return p;
  };
}

// A Proxy of 'target' where the members named in 'plan' are replaced:
// a plan value that is an object is a nested resource, one with `op` a
// method to record; `viaProxy` lists methods called with the proxy as
// `this` (so their internal create() is recorded too). Every other
// member is the target's own, functions bound to the target so that the
// SDK's private fields keep working.
export function proxify(target, plan, wrapper) {
  const made = new Map();
  const bound = new WeakMap();
  const via = new Set(plan.viaProxy ?? []);
  return new Proxy(target, {
    get(t, prop, receiver) {
      const real = Reflect.get(t, prop, t);
      const sub = typeof prop === "string" && prop !== "viaProxy" && Object.hasOwn(plan, prop) ? plan[prop] : undefined;
      if (sub !== undefined) {
        const m = made.get(prop);
        if (m && m.real === real) return m.value;
        let value = real;
        if (sub.op && typeof real === "function") value = wrapMethod(real, t, sub, wrapper);
        else if (!sub.op && real && typeof real === "object") value = proxify(real, sub, wrapper);
        made.set(prop, { real, value });
        return value;
      }
      if (typeof real !== "function" || prop === "constructor") return real;
      if (via.has(prop)) return Reflect.get(t, prop, receiver);
      let f = bound.get(real);
      if (!f) {
        f = real.bind(t);
        bound.set(real, f);
      }
      return f;
    },
  });
}
