// otel_export.mjs: the official OpenTelemetry JS SDK exporting GenAI spans to
// a live llmtap, and the checks of what llmtap stored. Used by test_otel.sh.
//
//   node otel_export.mjs export --url http://127.0.0.1:PORT --protocol json|proto --start-ms MS
//     Exports, with BasicTracerProvider + OTLPTraceExporter (http/json with a
//     SimpleSpanProcessor, or http/protobuf with a BatchSpanProcessor), a
//     request span "POST /chat" with a child GenAI chat span, and a separate
//     failed GenAI span. Timestamps are fixed from --start-ms so two runs
//     produce the same data apart from ids. Prints the ids as one JSON line;
//     exits 1 if the exporter reports a failure.
//
//   node otel_export.mjs check ROWS.json JSON_IDS PROTO_IDS
//     ROWS.json is `llmtap query --json` output for those traces. Checks each
//     run's records and that both protocols stored identical records apart
//     from ids. Prints every failure; exits 1 if any.
import { readFileSync } from 'node:fs';
import { context, diag, DiagConsoleLogger, DiagLogLevel, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';

// What the spans say, and so what llmtap must store.
export const EXPECT = {
  service: 'llmtap-otel-test',
  serviceVersion: '3.7.1-otel',
  model: 'gpt-4o-mini',
  responseModel: 'gpt-4o-mini-2024-07-18',
  provider: 'openai',
  inputTokens: 412,
  outputTokens: 19,
  cacheReadTokens: 256,
  system: 'You are a concise support assistant for Acme Outfitters.',
  user: 'Where is my order A-1042? It was due yesterday.',
  answer: 'Your order A-1042 is in transit and should arrive on March 4.',
  userId: 'u_7731',
  sessionId: 'sess_otel_0042',
  errorModel: 'claude-haiku-4-5',
  errorType: '429',
  errorMessage: 'rate limit exceeded for claude-haiku-4-5',
  chatMs: 1800,
};

function hr(ms) {
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
}

function args(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  return out;
}

function chatAttributes() {
  return {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': EXPECT.provider,
    'gen_ai.request.model': EXPECT.model,
    'gen_ai.response.model': EXPECT.responseModel,
    'gen_ai.request.temperature': 0.2,
    'gen_ai.request.max_tokens': 256,
    'gen_ai.response.finish_reasons': ['stop'],
    'gen_ai.usage.input_tokens': EXPECT.inputTokens,
    'gen_ai.usage.output_tokens': EXPECT.outputTokens,
    'gen_ai.usage.cache_read.input_tokens': EXPECT.cacheReadTokens,
    'gen_ai.input.messages': JSON.stringify([
      { role: 'system', parts: [{ type: 'text', content: EXPECT.system }] },
      { role: 'user', parts: [{ type: 'text', content: EXPECT.user }] },
    ]),
    'gen_ai.output.messages': JSON.stringify([
      { role: 'assistant', parts: [{ type: 'text', content: EXPECT.answer }], finish_reason: 'stop' },
    ]),
    'gen_ai.conversation.id': EXPECT.sessionId,
    'session.id': EXPECT.sessionId,
    'user.id': EXPECT.userId,
  };
}

async function exportSpans(a) {
  const start = Number(a['start-ms']);
  if (!a.url || !['json', 'proto'].includes(a.protocol) || !Number.isFinite(start)) {
    console.error('usage: otel_export.mjs export --url URL --protocol json|proto --start-ms MS');
    process.exit(2);
  }
  diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.ERROR);
  const Exporter = a.protocol === 'json' ? JsonExporter : ProtoExporter;
  const exporter = new Exporter({ url: `${a.url}/v1/traces`, timeoutMillis: 15000 });
  const results = [];
  const recording = {
    export(spans, done) {
      exporter.export(spans, (r) => {
        results.push(r);
        done(r);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  };
  const processor = a.protocol === 'json' ? new SimpleSpanProcessor(recording) : new BatchSpanProcessor(recording);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': EXPECT.service, 'service.version': EXPECT.serviceVersion }),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('llmtap-client-test', '1.0.0');

  const parent = tracer.startSpan('POST /chat', {
    kind: SpanKind.SERVER,
    startTime: hr(start),
    attributes: { 'http.request.method': 'POST', 'http.route': '/chat', 'user.id': EXPECT.userId },
  });
  const ctx = trace.setSpan(context.active(), parent);
  const chat = tracer.startSpan(`chat ${EXPECT.model}`, { kind: SpanKind.CLIENT, startTime: hr(start + 100), attributes: chatAttributes() }, ctx);
  chat.setStatus({ code: SpanStatusCode.OK });
  chat.end(hr(start + 100 + EXPECT.chatMs));
  parent.end(hr(start + 2000));

  const failed = tracer.startSpan(`chat ${EXPECT.errorModel}`, {
    kind: SpanKind.CLIENT,
    startTime: hr(start + 3000),
    attributes: {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': EXPECT.errorModel,
      'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: EXPECT.user }] }]),
      'error.type': EXPECT.errorType,
      'user.id': EXPECT.userId,
      'session.id': EXPECT.sessionId,
    },
  });
  failed.setStatus({ code: SpanStatusCode.ERROR, message: EXPECT.errorMessage });
  failed.end(hr(start + 3200));

  try {
    await provider.forceFlush();
    await provider.shutdown();
  } catch (e) {
    results.push({ code: 1, error: e });
  }
  const bad = results.filter((r) => r.code !== 0);
  if (results.length === 0 || bad.length > 0) {
    console.error(`otel_export: ${a.protocol} export failed:`, bad.map((r) => String(r.error)).join('; ') || 'nothing exported');
    process.exit(1);
  }
  console.log(JSON.stringify({
    protocol: a.protocol,
    chat_trace: chat.spanContext().traceId,
    parent_span: parent.spanContext().spanId,
    chat_span: chat.spanContext().spanId,
    error_trace: failed.spanContext().traceId,
    error_span: failed.spanContext().spanId,
  }));
}

// ---- checks ----------------------------------------------------------------

// A JSON column may come back as JSON text or already as a value.
function jsonCol(v) {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function textOf(msg) {
  if (!msg) return undefined;
  if (typeof msg.content === 'string') return msg.content;
  if (Array.isArray(msg.content)) return msg.content.map((p) => p.text ?? p.content ?? '').join('');
  return undefined;
}

function checkRun(rows, ids, fail) {
  const p = ids.protocol;
  const find = (span) => rows.find((r) => r.span_id === span);
  const parent = find(ids.parent_span);
  const chat = find(ids.chat_span);
  const err = find(ids.error_span);
  if (!parent) fail(`${p}: the parent span ${ids.parent_span} was not stored`);
  if (!chat) fail(`${p}: the chat span ${ids.chat_span} was not stored`);
  if (!err) fail(`${p}: the error span ${ids.error_span} was not stored`);
  if (!parent || !chat || !err) return null;
  const eq = (what, got, want) => {
    if (got !== want) fail(`${p}: ${what} is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  };
  eq('chat trace_id', chat.trace_id, ids.chat_trace);
  eq('parent trace_id', parent.trace_id, ids.chat_trace);
  eq('chat parent_span_id', chat.parent_span_id, ids.parent_span);
  if (parent.parent_span_id) fail(`${p}: the root span has parent_span_id ${parent.parent_span_id}`);
  eq('chat kind', chat.kind, 'llm');
  eq('model', chat.model, EXPECT.model);
  eq('response_model', chat.response_model, EXPECT.responseModel);
  eq('provider', chat.provider, EXPECT.provider);
  eq('input_tokens', Number(chat.input_tokens), EXPECT.inputTokens);
  eq('output_tokens', Number(chat.output_tokens), EXPECT.outputTokens);
  eq('cache_read_tokens', Number(chat.cache_read_tokens), EXPECT.cacheReadTokens);
  eq('user_id', chat.user_id, EXPECT.userId);
  eq('session_id', chat.session_id, EXPECT.sessionId);
  eq('chat status', chat.status, 'ok');
  if ('latency_ms' in chat) eq('latency_ms', Number(chat.latency_ms), EXPECT.chatMs);
  if ('finish_reason' in chat) eq('finish_reason', chat.finish_reason, 'stop');
  const input = jsonCol(chat.input);
  const output = jsonCol(chat.output);
  if (!Array.isArray(input)) fail(`${p}: input is not a message array: ${JSON.stringify(chat.input)}`);
  else {
    eq('input[0] (system) text', textOf(input.find((m) => m.role === 'system')), EXPECT.system);
    eq('input user text', textOf(input.find((m) => m.role === 'user')), EXPECT.user);
  }
  const answer = Array.isArray(output) ? output[0] : output;
  eq('output role', answer?.role, 'assistant');
  eq('output text', textOf(answer), EXPECT.answer);
  const version = 'service_version' in chat ? chat.service_version : undefined;
  if (version !== undefined) eq('service_version', version, EXPECT.serviceVersion);
  else if (!JSON.stringify(chat).includes(EXPECT.serviceVersion))
    fail(`${p}: service.version ${EXPECT.serviceVersion} is nowhere in the stored chat span`);
  eq('error span status', err.status, 'error');
  eq('error span model', err.model, EXPECT.errorModel);
  const why = `${err.error_code ?? ''} ${err.error_message ?? ''}`;
  if (!why.includes(EXPECT.errorType) && !why.includes(EXPECT.errorMessage))
    fail(`${p}: the error span does not say why it failed (error_code/error_message: ${JSON.stringify(why.trim())})`);
  return [parent, chat, err];
}

function withoutIds(row) {
  const copy = { ...row };
  for (const k of Object.keys(copy))
    if (['trace_id', 'span_id', 'parent_span_id'].includes(k) || /^(received|ingested|inserted|created)_/.test(k))
      delete copy[k];
  return copy;
}

function compareRuns(a, b, fail) {
  const names = ['parent', 'chat', 'error'];
  for (let i = 0; i < 3; i++) {
    const x = withoutIds(a[i]);
    const y = withoutIds(b[i]);
    for (const k of new Set([...Object.keys(x), ...Object.keys(y)]))
      if (JSON.stringify(x[k]) !== JSON.stringify(y[k]))
        fail(`json vs proto: ${names[i]} span column ${k} differs: ${JSON.stringify(x[k])} vs ${JSON.stringify(y[k])}`);
  }
}

function check(rowsFile, jsonIdsFile, protoIdsFile) {
  const failures = [];
  const fail = (m) => failures.push(m);
  let rows;
  try {
    rows = JSON.parse(readFileSync(rowsFile, 'utf8'));
  } catch (e) {
    console.error(`otel_export: llmtap query output is not JSON: ${e.message}`);
    process.exit(1);
  }
  if (!Array.isArray(rows)) fail('llmtap query output is not an array');
  const runs = [jsonIdsFile, protoIdsFile].map((f) => JSON.parse(readFileSync(f, 'utf8')));
  const got = Array.isArray(rows) ? runs.map((ids) => checkRun(rows, ids, fail)) : [];
  if (got.length === 2 && got[0] && got[1]) compareRuns(got[0], got[1], fail);
  if (Array.isArray(rows) && rows.length !== 6) fail(`expected 6 stored spans for the 4 traces, found ${rows.length}`);
  for (const m of failures) console.error(`FAIL ${m}`);
  if (failures.length) process.exit(1);
  console.log(`otel: ${rows.length} spans checked, json and proto records identical apart from ids`);
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'export') await exportSpans(args(rest));
else if (cmd === 'check' && rest.length === 3) check(...rest);
else {
  console.error('usage: otel_export.mjs export ... | check ROWS.json JSON_IDS PROTO_IDS');
  process.exit(2);
}
