// Type declarations for llmtap (sdk-shims/node): see README.md.

/** A prompt from llmtap's registry: "name@7" or {name, version, variables}. */
export type PromptRef = string | { name: string; version?: number | string; variables?: Record<string, unknown> };

/** Where spans go and how they are batched (wrapper options, configure()). */
export interface ConnectionOptions {
  /** llmtap's base URL; default env LLMTAP_ENDPOINT, else http://127.0.0.1:4318. */
  endpoint?: string;
  /** Ingest key, sent as the LLMTap-Key header (never logged); default env LLMTAP_KEY. */
  key?: string;
  /** Spans per request (default 100). */
  batchSize?: number;
  /** Longest a span waits before its batch is sent, in ms (default 1000). */
  flushIntervalMs?: number;
  /** Spans kept in memory; when full the oldest are dropped and counted (default 10000). */
  maxQueue?: number;
  /** Retries of a batch on 429/502/503/504 or a connection error (default 5). */
  maxRetries?: number;
  /** Ceiling of one backoff or Retry-After wait, in ms (default 30000). */
  maxBackoffMs?: number;
  /** Timeout of one POST, in ms (default 10000). */
  requestTimeoutMs?: number;
  /** How long the beforeExit hook may spend sending, in ms (default 2000). */
  exitFlushTimeoutMs?: number;
  /** true turns everything off (as env LLMTAP_DISABLED=1 does). */
  disabled?: boolean;
}

/** Who and what a span is about (wrapper options, trace()/startSpan() options). */
export interface Attribution {
  /** The project (honoured where the ingest key allows it); default env LLMTAP_PROJECT. */
  project?: string;
  /** The end user of your app. */
  user?: string;
  /** A conversation. */
  session?: string;
  /** Your customer the user belongs to. */
  tenant?: string;
  /** "key=value;key=value"; default env LLMTAP_VERSION_SET. */
  versionSet?: string;
  /** The prompt the request was rendered from, with its variables. */
  prompt?: PromptRef;
  tags?: string[];
}

export interface WrapOptions extends ConnectionOptions, Attribution {
  /**
   * Ask for usage on chat streams the app did not ask it for
   * (stream_options.include_usage) and hide it from the app again (default false).
   */
  streamUsage?: boolean;
}

export type SpanKind = "llm" | "embedding" | "tool" | "retrieval" | "agent" | "chain" | "guardrail" | "evaluator" | "other";

export interface SpanOptions extends Attribution, ConnectionOptions {
  /** Default "chain". */
  kind?: SpanKind;
  input?: unknown;
  attributes?: Record<string, unknown>;
  /** The parent span; default the current one (inside trace() or span.run()); null for a root. */
  parent?: Span | null;
}

/** Native span fields set on a handle (see docs/NATIVE_API.md). */
export interface SpanFields {
  input?: unknown;
  output?: unknown;
  status?: "ok" | "error" | "degraded" | "blocked" | "cancelled";
  error?: unknown;
  model?: string;
  provider?: string;
  usage?: Record<string, number>;
  params?: Record<string, unknown>;
  attributes?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface Span {
  /** 32 hex; null when llmtap is disabled. */
  readonly traceId: string | null;
  /** 16 hex; null when llmtap is disabled. */
  readonly spanId: string | null;
  update(fields: SpanFields): this;
  setAttribute(key: string, value: unknown): this;
  /** Runs fn with this span as the parent of the calls it makes. */
  run<T>(fn: (...args: any[]) => T, ...args: any[]): T;
  /** Ends the span (once); an `error` may be an Error. */
  end(fields?: SpanFields): void;
}

export interface Stats {
  /** Spans handed to the queue. */
  queued: number;
  /** Spans the server accepted (duplicates included). */
  sent: number;
  /** Spans dropped because the queue was full (the oldest go first). */
  dropped: number;
  /** Spans given up after the retries, or that could not be serialised. */
  failed: number;
  /** Spans the server rejected (a bad field). */
  rejected: number;
  /** Batch retries. */
  retries: number;
  /** Requests answered. */
  batches: number;
  /** Spans queued or in flight now. */
  pending: number;
}

/** The OpenAI client, with chat.completions.create, responses.create and embeddings.create recorded. */
export function wrapOpenAI<T extends object>(client: T, options?: WrapOptions): T;
/** The Anthropic client, with messages.create (and messages.stream) recorded. */
export function wrapAnthropic<T extends object>(client: T, options?: WrapOptions): T;
/** Defaults for every later wrapper, trace() and startSpan(). */
export function configure(options: WrapOptions): void;
/** Sends what is queued; resolves when done or after timeoutMs (default 10000). Never rejects. */
export function flush(options?: { timeoutMs?: number }): Promise<void>;
export function stats(): Stats;
/** Runs fn(span) in a span that ends when fn returns or its promise settles; returns what fn returns. */
export function trace<T>(name: string, fn: (span: Span) => T, options?: SpanOptions): T;
export function trace<T>(fn: (span: Span) => T, options?: SpanOptions): T;
/** A span you end yourself. */
export function startSpan(name: string, options?: SpanOptions): Span;
/** The span of the enclosing trace() or span.run(), or null. */
export function currentSpan(): Span | null;
