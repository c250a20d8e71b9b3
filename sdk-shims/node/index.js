// llmtap for Node: wrapOpenAI / wrapAnthropic record every LLM call of the
// official clients as a span and send it, in background batches, to a
// llmtap server's POST /api/v1/spans; trace() / startSpan() add parent
// spans. Nothing here throws into the app or blocks it (see README.md).
//
// Reading order: index.js (this), wrap.js (the Proxy and the stream tap),
// openai.js / anthropic.js (call -> span), core.js (context, handles,
// config), exporter.js (queue, batches, retries).

import { isDisabled, resolve, exporterFor, adoptDefaults } from "./core.js";
import { proxify, guard } from "./wrap.js";
import { OPENAI_PLAN } from "./openai.js";
import { ANTHROPIC_PLAN } from "./anthropic.js";

export { configure, flush, stats, trace, startSpan, currentSpan } from "./core.js";

function wrap(client, plan, options) {
  if (!client || typeof client !== "object" || isDisabled(options)) return client;
  const proxy = guard(() => {
    adoptDefaults(options);
    const cfg = resolve(options);
    const streamUsage = options?.streamUsage === true;
    return proxify(client, plan, { attrib: cfg.attrib, ex: exporterFor(cfg), streamUsage });
  });
  return proxy ?? client;
}

// The OpenAI client, with chat.completions.create, responses.create and
// embeddings.create recorded; everything else is the client's own.
export function wrapOpenAI(client, options) {
  return wrap(client, OPENAI_PLAN, options);
}

// The Anthropic client, with messages.create (and so messages.stream)
// recorded; everything else is the client's own.
export function wrapAnthropic(client, options) {
  return wrap(client, ANTHROPIC_PLAN, options);
}
