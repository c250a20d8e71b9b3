// Regenerates the real-SDK protobuf fixtures for tests/collector/test_otlp_pb.c.
// Run from anywhere with node >= 18: `node tests/data/otlp_pb/gen.mjs`.
// Each request is serialized twice by @opentelemetry/otlp-transformer (the
// code the OTel JS exporters use): ProtobufTraceSerializer / ProtobufLogsSerializer
// give <name>.pb, JsonTraceSerializer / JsonLogsSerializer give <name>.json,
// the OTLP/JSON the decoder is expected to reproduce (up to proto3 defaults and
// number-vs-string for 64-bit integers). The inputs are built by hand as
// ReadableSpan / ReadableLogRecord shapes so the output is deterministic.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../../clients/package.json'));
const {
  ProtobufTraceSerializer, JsonTraceSerializer, ProtobufLogsSerializer, JsonLogsSerializer,
} = require('@opentelemetry/otlp-transformer');

const resource = {
  attributes: {
    'service.name': 'support-bot',
    'service.version': '2.3.1',
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.version': '2.12.1',
  },
  schemaUrl: 'https://opentelemetry.io/schemas/1.37.0',
};
const scope = { name: '@llmtap/fixture-genai', version: '1.4.0', schemaUrl: '' };
const traceId = '4F9C2B7E1A3D4C8B9E0F112233445566'.toLowerCase();
const traceState = { serialize: () => 'vendor=abc,other=x1' };

function span(fields) {
  const ctx = { traceId, spanId: fields.spanId, traceFlags: 1, traceState: fields.traceState };
  return {
    name: fields.name,
    kind: fields.kind,
    spanContext: () => ctx,
    parentSpanContext: fields.parent,
    startTime: fields.start,
    endTime: fields.end,
    status: fields.status,
    attributes: fields.attributes,
    links: fields.links || [],
    events: fields.events || [],
    duration: [0, 0],
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

// kind follows the JS API (0 INTERNAL, 1 SERVER, 2 CLIENT); the wire adds 1.
const server = span({
  name: 'POST /v1/support/chat', kind: 1, spanId: 'a1b2c3d4e5f60718',
  start: [1772460307, 120456000], end: [1772460310, 73456000],
  status: { code: 1 },
  attributes: { 'http.request.method': 'POST', 'http.response.status_code': 200 },
});
const chat = span({
  name: 'chat gpt-4o-mini', kind: 2, spanId: '0f1e2d3c4b5a6978', traceState,
  parent: { traceId, spanId: 'a1b2c3d4e5f60718', traceFlags: 1, isRemote: false },
  start: [1772460307, 123456000], end: [1772460307, 373456789],
  status: { code: 2, message: 'Error code: 429' },
  attributes: {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'gpt-4o-mini',
    'gen_ai.request.max_tokens': 256,
    'gen_ai.request.temperature': 0.2,
    'gen_ai.request.stream': true,
    'gen_ai.request.stop_sequences': ['\n\n', 'END'],
    'gen_ai.response.finish_reasons': ['stop'],
    'gen_ai.usage.input_tokens': 412,
    'gen_ai.usage.output_tokens': 19,
    'gen_ai.input.messages': [
      { role: 'user', parts: [{ type: 'text', content: 'Où est ma commande ? ✓ 😀' }] },
    ],
    'gen_ai.request.seed': -7,
    'llmtap.fixture.big_int': 2 ** 53,
    'llmtap.fixture.bytes': new Uint8Array([0, 1, 2, 250]),
    'llmtap.fixture.options': { retries: 2, backoff: 0.5, sticky: false, tags: ['a', 'b'] },
  },
  events: [{
    name: 'exception', time: [1772460307, 372456000], droppedAttributesCount: 0,
    attributes: {
      'exception.type': 'openai.RateLimitError',
      'exception.message': 'Error code: 429 - Rate limit reached',
    },
  }],
  links: [{
    context: { traceId: '0123456789abcdef0123456789abcdef', spanId: '0011223344556677',
               traceFlags: 1, isRemote: true },
    attributes: { 'link.reason': 'retry-of' },
    droppedAttributesCount: 0,
  }],
});

const logScope = { name: '@llmtap/fixture-genai-events', version: '1.4.0', schemaUrl: '' };
function log(fields) {
  return {
    hrTime: fields.time, hrTimeObserved: fields.observed,
    severityNumber: fields.severityNumber, severityText: fields.severityText,
    body: fields.body, attributes: fields.attributes, droppedAttributesCount: 0,
    spanContext: fields.spanContext, eventName: fields.eventName,
    resource, instrumentationScope: logScope,
  };
}
const logs = [
  log({
    time: [1772460307, 123500000], observed: [1772460307, 123600000],
    severityNumber: 9, severityText: 'INFO', eventName: 'gen_ai.user.message',
    spanContext: { traceId, spanId: '0f1e2d3c4b5a6978', traceFlags: 1 },
    attributes: { 'gen_ai.provider.name': 'openai' },
    body: { role: 'user', content: 'My order #A-1042 has not arrived.', index: 0 },
  }),
  log({
    time: [1772460307, 373000000], observed: [1772460307, 373100000],
    severityNumber: 0, severityText: '', eventName: '',
    attributes: { 'event.name': 'gen_ai.choice' },
    body: 'plain text body',
  }),
];

// The JSON serializers also copy schemaUrl into "resource", which has no such
// field in the proto (it belongs to ResourceSpans / ResourceLogs, where they
// put it as well): drop that copy, protobuf cannot carry it.
function write(name, pb, json) {
  writeFileSync(join(here, `${name}.pb`), pb);
  const req = JSON.parse(new TextDecoder().decode(json));
  for (const r of req.resourceSpans || req.resourceLogs) delete r.resource.schemaUrl;
  const text = JSON.stringify(req, null, 2);
  writeFileSync(join(here, `${name}.json`), text + '\n');
}
write('sdk-genai-trace', ProtobufTraceSerializer.serializeRequest([server, chat]),
      JsonTraceSerializer.serializeRequest([server, chat]));
write('sdk-genai-logs', ProtobufLogsSerializer.serializeRequest(logs),
      JsonLogsSerializer.serializeRequest(logs));
