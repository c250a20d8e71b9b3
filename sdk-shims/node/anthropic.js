// anthropic.js: how the `@anthropic-ai/sdk` client's messages.create (plain
// and `stream: true`; messages.stream() and messages.parse() go through it)
// maps to native spans.
//
// Anthropic's input_tokens excludes cache reads and writes; llmtap's
// includes them, so input_tokens = input + cache_read + cache_creation.
// A stream's message_delta usage is cumulative: later values replace.

import { endStream, pick } from "./common.js";

export function anthropicUsage(u) {
  if (!u || typeof u !== "object") return undefined;
  const read = Number.isInteger(u.cache_read_input_tokens) ? u.cache_read_input_tokens : 0;
  const write = Number.isInteger(u.cache_creation_input_tokens) ? u.cache_creation_input_tokens : 0;
  const out = {};
  if (Number.isInteger(u.input_tokens)) out.input_tokens = u.input_tokens + read + write;
  if (Number.isInteger(u.output_tokens)) out.output_tokens = u.output_tokens;
  if (u.cache_read_input_tokens !== undefined && u.cache_read_input_tokens !== null) out.cache_read_tokens = read;
  if (u.cache_creation_input_tokens !== undefined && u.cache_creation_input_tokens !== null) out.cache_write_tokens = write;
  const h1 = u.cache_creation?.ephemeral_1h_input_tokens;
  if (Number.isInteger(h1)) out.cache_write_1h_tokens = h1;
  const thinking = u.output_tokens_details?.thinking_tokens;
  if (Number.isInteger(thinking)) out.reasoning_tokens = thinking;
  return out;
}

const PARAMS = ["max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "tool_choice", "thinking",
  "service_tier", "stream"];

// A message's content blocks -> one canonical assistant message.
function outputMessage(m) {
  const msg = { role: "assistant", content: null };
  let text = "";
  let any = false;
  const calls = [];
  const thinking = [];
  for (const blk of m.content ?? []) {
    if (!blk) continue;
    if (blk.type === "text") {
      text += blk.text ?? "";
      any = true;
    } else if (blk.type === "tool_use" || blk.type === "server_tool_use") {
      calls.push({ id: blk.id, name: blk.name, arguments: blk.input });
    } else if (blk.type === "thinking" && blk.thinking) thinking.push(blk.thinking);
  }
  if (any) msg.content = text;
  if (calls.length) msg.tool_calls = calls;
  if (thinking.length) msg.reasoning = thinking.join("\n");
  if (m.stop_reason) msg.finish_reason = m.stop_reason;
  return msg;
}

// Folds stream events into the message a plain call would have returned.
function fold(events) {
  const m = { model: undefined, content: [], stop_reason: null, usage: undefined };
  const json = [];
  for (const ev of events) {
    switch (ev && ev.type) {
      case "message_start":
        if (ev.message) {
          m.model = ev.message.model;
          m.usage = { ...(ev.message.usage ?? {}) };
        }
        break;
      case "content_block_start":
        m.content[ev.index] = { ...ev.content_block };
        break;
      case "content_block_delta": {
        const blk = (m.content[ev.index] ??= { type: "text", text: "" });
        const d = ev.delta ?? {};
        if (d.type === "text_delta") blk.text = (blk.text ?? "") + d.text;
        else if (d.type === "thinking_delta") blk.thinking = (blk.thinking ?? "") + d.thinking;
        else if (d.type === "input_json_delta") json[ev.index] = (json[ev.index] ?? "") + d.partial_json;
        break;
      }
      case "message_delta":
        if (ev.delta?.stop_reason) m.stop_reason = ev.delta.stop_reason;
        if (ev.usage) {
          m.usage ??= {};
          for (const [k, v] of Object.entries(ev.usage)) if (v !== null && v !== undefined) m.usage[k] = v;
        }
        break;
      default:
        break;
    }
  }
  json.forEach((s, i) => {
    if (s === undefined || !m.content[i]) return;
    try {
      m.content[i].input = s === "" ? {} : JSON.parse(s);
    } catch {
      m.content[i].input = s;
    }
  });
  m.content = m.content.filter(Boolean);
  return m;
}

export const messages = {
  op: "chat",
  provider: "anthropic",
  kind: "llm",
  isContent(ev) {
    return ev.type === "content_block_delta";
  },
  complete(events) {
    const last = events[events.length - 1];
    return !!last && last.type === "message_stop";
  },
  endStream,
  fold,
  toSpan(rec, span) {
    const b = rec.body || {};
    const input = Array.isArray(b.messages) ? b.messages : [];
    span.input = b.system !== undefined && b.system !== null ? [{ role: "system", content: b.system }, ...input] : input;
    span.params = pick(b, PARAMS);
    if (span.user === undefined && typeof b.metadata?.user_id === "string") span.user = b.metadata.user_id;
    const res = rec.result;
    if (!res || typeof res !== "object") return;
    if (res.model) span.response_model = res.model;
    if ((res.content && res.content.length) || res.stop_reason) span.output = outputMessage(res);
    if (res.stop_reason) span.finish_reason = res.stop_reason;
    const u = anthropicUsage(res.usage);
    if (u) span.usage = u;
    if (typeof res.usage?.service_tier === "string") span.service_tier = res.usage.service_tier;
  },
};

export const ANTHROPIC_PLAN = {
  messages: { create: messages, viaProxy: ["stream", "parse"] },
};
