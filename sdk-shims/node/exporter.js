// exporter.js: the span queue and its background sender.
//
// A record is queued by reference (no JSON work on the app's call path); the
// sender turns records into native spans and serialises them in batches,
// POSTs each batch to {endpoint}/api/v1/spans, retries 429/502/503/504 and
// connection errors with exponential backoff honouring Retry-After, and
// counts everything in stats(). Invariants: the queue never holds more than
// maxQueue records (the oldest are dropped and counted); at most one batch
// is in flight per exporter; no method throws or rejects into the caller.

const RETRYABLE = new Set([429, 502, 503, 504]);

// A fixed-size ring: push drops the oldest when full and says so.
class Ring {
  constructor(cap) {
    this.cap = cap;
    this.buf = new Array(cap);
    this.head = 0;
    this.size = 0;
  }
  push(x) {
    let dropped = false;
    if (this.size === this.cap) {
      this.buf[this.head] = undefined;
      this.head = (this.head + 1) % this.cap;
      this.size--;
      dropped = true;
    }
    this.buf[(this.head + this.size) % this.cap] = x;
    this.size++;
    return dropped;
  }
  take(n) {
    const k = Math.min(n, this.size);
    const out = new Array(k);
    for (let i = 0; i < k; i++) {
      out[i] = this.buf[this.head];
      this.buf[this.head] = undefined;
      this.head = (this.head + 1) % this.cap;
    }
    this.size -= k;
    return out;
  }
}

function debug(msg) {
  if (process.env.LLMTAP_DEBUG === "1") {
    try {
      process.stderr.write(`llmtap: ${msg}\n`);
    } catch {
      /* nothing to do */
    }
  }
}

// Retry-After is seconds or an HTTP-date; null when absent or unreadable.
function retryAfterMs(value) {
  if (!value) return null;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const t = Date.parse(value);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : null;
}

const sleep = (ms) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref?.();
  });

export class Exporter {
  // 'cfg' is the resolved configuration (see config.js); 'toSpan' turns a
  // queued record into a native span object.
  constructor(cfg, toSpan) {
    this.url = cfg.endpoint.replace(/\/+$/, "") + "/api/v1/spans";
    this.key = cfg.key;
    this.batchSize = cfg.batchSize;
    this.intervalMs = cfg.flushIntervalMs;
    this.maxRetries = cfg.maxRetries;
    this.maxBackoffMs = cfg.maxBackoffMs;
    this.timeoutMs = cfg.requestTimeoutMs;
    this.toSpan = toSpan;
    this.queue = new Ring(cfg.maxQueue);
    this.stats = { queued: 0, sent: 0, dropped: 0, failed: 0, rejected: 0, retries: 0, batches: 0 };
    this.timer = null;
    this.busy = false;
    this.waiters = [];
    this.giveUpAt = 0; // while > now, retries stop early (exit flush deadline)
    this.flushing = 0; // flush() calls waiting
  }

  // Called on the app's path: O(1), never throws.
  enqueue(rec) {
    if (this.queue.push(rec)) this.stats.dropped++;
    this.stats.queued++;
    if (this.busy) return;
    if (this.queue.size >= this.batchSize) this.kick(0);
    else if (!this.timer) this.kick(this.intervalMs);
  }

  kick(ms) {
    if (this.timer) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drain();
    }, ms);
    this.timer.unref?.();
  }

  get pending() {
    return this.queue.size + (this.busy ? 1 : 0);
  }

  // Sends one batch, then more only while full batches are waiting (or a
  // flush asked for everything): partial batches wait for the interval.
  async drain() {
    if (this.busy) return;
    this.busy = true;
    try {
      // A backlog goes out in bigger batches (up to 10x), so that the sender
      // keeps up with an app making calls faster than one batch per round trip.
      do await this.sendBatch(this.queue.take(this.queue.size > this.batchSize ? this.batchSize * 10 : this.batchSize));
      while (this.queue.size >= this.batchSize || (this.flushing > 0 && this.queue.size > 0));
    } catch (e) {
      debug(`sender error: ${e && e.message}`);
    } finally {
      this.busy = false;
      if (this.queue.size > 0) this.kick(this.intervalMs);
      const w = this.waiters;
      this.waiters = [];
      for (const resolve of w) resolve();
    }
  }

  // Serialises each span on its own, so that one unserialisable span
  // (a circular variable, a BigInt) costs only itself.
  serialise(recs) {
    const parts = [];
    const kept = [];
    for (const rec of recs) {
      try {
        parts.push(JSON.stringify(this.toSpan(rec)));
        kept.push(rec);
      } catch (e) {
        this.stats.failed++;
        debug(`span not serialisable: ${e && e.message}`);
      }
    }
    return { body: "[" + parts.join(",") + "]", kept };
  }

  async sendBatch(recs) {
    let { body, kept } = this.serialise(recs);
    if (kept.length === 0) return;
    for (let attempt = 0; ; attempt++) {
      let wait = null;
      let res = null;
      try {
        res = await this.post(body);
      } catch (e) {
        debug(`cannot reach ${this.url}: ${e && (e.cause?.code || e.message)}`);
      }
      if (res && res.status === 413 && kept.length > 1) {
        const half = kept.length >> 1;
        await this.sendBatch(kept.slice(0, half));
        await this.sendBatch(kept.slice(half));
        return;
      }
      if (res && !RETRYABLE.has(res.status)) {
        const again = await this.settle(res, kept);
        if (again.length === 0) return;
        ({ body, kept } = this.serialise(again));
      } else if (res) {
        wait = retryAfterMs(res.headers.get("retry-after"));
      }
      if (attempt >= this.maxRetries || (this.giveUpAt && Date.now() >= this.giveUpAt)) {
        this.stats.failed += kept.length;
        debug(`gave up on ${kept.length} spans after ${attempt + 1} attempts`);
        return;
      }
      const backoff = Math.min(this.maxBackoffMs, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);
      let ms = wait ?? backoff;
      ms = Math.min(ms, this.maxBackoffMs);
      if (this.giveUpAt) ms = Math.min(ms, Math.max(0, this.giveUpAt - Date.now()));
      this.stats.retries++;
      await sleep(ms);
    }
  }

  async post(body) {
    const headers = { "content-type": "application/json" };
    if (this.key) headers["llmtap-key"] = this.key;
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), this.timeoutMs);
    t.unref?.();
    try {
      const res = await fetch(this.url, { method: "POST", headers, body, signal: ctl.signal });
      return { status: res.status, headers: res.headers, text: await res.text() };
    } finally {
      clearTimeout(t);
    }
  }

  // Reads the per-span results of a non-retryable answer; returns the
  // records to send again (those the store could not commit).
  async settle(res, kept) {
    this.stats.batches++;
    let out = null;
    try {
      out = JSON.parse(res.text);
    } catch {
      /* not llmtap's answer */
    }
    if (res.status >= 400 && !(out && Array.isArray(out.results))) {
      this.stats.failed += kept.length;
      debug(`${this.url} answered ${res.status}: ${String(res.text).slice(0, 200)}`);
      return [];
    }
    if (!out || !Array.isArray(out.results)) {
      this.stats.sent += kept.length;
      return [];
    }
    const again = [];
    for (let i = 0; i < kept.length; i++) {
      const r = out.results[i];
      if (!r || r.status !== "rejected") this.stats.sent++;
      else if (r.error && r.error.code === "UNAVAILABLE") again.push(kept[i]);
      else {
        this.stats.rejected++;
        debug(`span rejected: ${r.error && r.error.message}`);
      }
    }
    return again;
  }

  // Resolves once the queue is empty and nothing is in flight (sent or
  // given up), or after 'timeoutMs' (whatever remains stays queued).
  flush(timeoutMs) {
    if (this.queue.size === 0 && !this.busy) return Promise.resolve();
    this.flushing++;
    return new Promise((resolve) => {
      let over = false;
      const t = setTimeout(() => {
        over = true;
        this.flushing--;
        resolve();
      }, timeoutMs);
      const step = () => {
        if (over) return;
        if (this.queue.size === 0 && !this.busy) {
          over = true;
          this.flushing--;
          clearTimeout(t);
          resolve();
        } else if (this.busy) {
          this.waiters.push(step);
        } else {
          if (this.timer) {
            clearTimeout(this.timer);
            this.timer = null;
          }
          this.drain().then(step, step);
        }
      };
      step();
    });
  }
}
