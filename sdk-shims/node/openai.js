// openai.js: how the `openai` client's chat.completions.create,
// responses.create and embeddings.create map to native spans.
//
// Usage follows llmtap's convention, which is OpenAI's own: input_tokens
// includes cached reads, output_tokens includes reasoning. A chat stream
// carries usage only when the app asked for it (stream_options.include_usage);
// the shim never asks on the app's behalf, so other chat streams have no
// token counts (llmtap shows them unpriced).

import { endStream, pick } from "./common.js";

export function openaiUsage(u) {
  if (!u || typeof u !== "object") return undefined;
  const out = {};
  const input = u.prompt_tokens ?? u.input_tokens;
  const output = u.completion_tokens ?? u.output_tokens;
  if (Number.isInteger(input)) out.input_tokens = input;
  if (Number.isInteger(output)) out.output_tokens = output;
  const inD = u.prompt_tokens_details ?? u.input_tokens_details;
  const outD = u.completion_tokens_details ?? u.output_tokens_details;
  if (inD && Number.isInteger(inD.cached_tokens)) out.cache_read_tokens = inD.cached_tokens;
  if (inD && Number.isInteger(inD.cache_write_tokens)) out.cache_write_tokens = inD.cache_write_tokens;
  if (outD && Number.isInteger(outD.reasoning_tokens)) out.reasoning_tokens = outD.reasoning_tokens;
  return out;
}

const CHAT_PARAMS = ["temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stop", "seed",
  "presence_penalty", "frequency_penalty", "tool_choice", "parallel_tool_calls", "reasoning_effort",
  "service_tier", "response_format", "stream", "stream_options", "logprobs", "top_logprobs", "verbosity"];

// Folds chat chunks into the shape of a plain completion.
function foldChat(events) {
  const res = { model: undefined, choices: [], usage: undefined, service_tier: undefined };
  for (const ev of events) {
    if (!ev || typeof ev !== "object") continue;
    if (ev.model) res.model = ev.model;
    if (ev.service_tier) res.service_tier = ev.service_tier;
    if (ev.usage) res.usage = ev.usage;
    for (const c of ev.choices ?? []) {
      const i = c.index ?? 0;
      const ch = (res.choices[i] ??= { message: { role: "assistant", content: null }, finish_reason: null, calls: [] });
      const d = c.delta ?? {};
      if (typeof d.content === "string") ch.message.content = (ch.message.content ?? "") + d.content;
      if (typeof d.refusal === "string") ch.message.refusal = (ch.message.refusal ?? "") + d.refusal;
      for (const t of d.tool_calls ?? []) {
        const k = t.index ?? 0;
        const call = (ch.calls[k] ??= { id: undefined, type: "function", function: { name: "", arguments: "" } });
        if (t.id) call.id = t.id;
        if (t.function?.name) call.function.name += t.function.name;
        if (t.function?.arguments) call.function.arguments += t.function.arguments;
      }
      if (c.finish_reason) ch.finish_reason = c.finish_reason;
    }
  }
  for (const ch of res.choices) {
    if (!ch) continue;
    const calls = ch.calls.filter(Boolean);
    if (calls.length) ch.message.tool_calls = calls;
    delete ch.calls;
  }
  res.choices = res.choices.filter(Boolean);
  return res;
}

function chatMessage(c) {
  const m = c && c.message ? { ...c.message } : { role: "assistant", content: null };
  if (c && c.finish_reason) m.finish_reason = c.finish_reason;
  return m;
}

export const chat = {
  op: "chat",
  provider: "openai",
  kind: "llm",
  isContent(ev) {
    for (const c of ev.choices ?? []) {
      const d = c.delta;
      if (d && ((typeof d.content === "string" && d.content !== "") || d.tool_calls || d.refusal)) return true;
    }
    return false;
  },
  complete(events, rec) {
    // finish_reason comes once per choice, near the end (then the usage chunk).
    const back = (Number.isInteger(rec?.body?.n) ? rec.body.n : 1) + 3;
    for (let i = events.length - 1; i >= 0 && i >= events.length - back; i--) {
      if ((events[i].choices ?? []).some((c) => c.finish_reason)) return true;
    }
    return false;
  },
  endStream,
  fold: foldChat,
  // With the wrapper option streamUsage, a chat stream the app did not ask
  // usage for is sent with stream_options.include_usage; hide() then drops
  // the usage-only chunk and the `usage: null` the others gain, so the app
  // sees the stream it asked for.
  inject(body) {
    if (!body || body.stream !== true || body.stream_options?.include_usage) return undefined;
    return { ...body, stream_options: { ...(body.stream_options ?? {}), include_usage: true } };
  },
  hide(ev) {
    if (Array.isArray(ev.choices) && ev.choices.length === 0 && ev.usage) return true;
    if (ev.usage === null) delete ev.usage;
    return false;
  },
  toSpan(rec, span) {
    const b = rec.body || {};
    span.input = b.messages;
    span.params = pick(b, CHAT_PARAMS);
    if (span.user === undefined && typeof b.user === "string") span.user = b.user;
    const res = rec.result;
    if (!res || typeof res !== "object") return;
    if (res.model) span.response_model = res.model;
    const choices = Array.isArray(res.choices) ? res.choices : [];
    if (choices.length === 1) span.output = chatMessage(choices[0]);
    else if (choices.length > 1) span.output = choices.map(chatMessage);
    if (choices[0]?.finish_reason) span.finish_reason = choices[0].finish_reason;
    const u = openaiUsage(res.usage);
    if (u) span.usage = u;
    if (typeof res.service_tier === "string") span.service_tier = res.service_tier;
  },
};

const RESPONSES_PARAMS = ["temperature", "top_p", "max_output_tokens", "tool_choice", "parallel_tool_calls",
  "reasoning", "service_tier", "truncation", "store", "stream", "previous_response_id", "text"];

const TERMINAL = new Set(["response.completed", "response.incomplete", "response.failed"]);

// Responses input items -> canonical messages (items that are messages stay).
function responsesInput(b) {
  const items = typeof b.input === "string" ? [{ role: "user", content: b.input }] : Array.isArray(b.input) ? b.input : [];
  const out = [];
  if (typeof b.instructions === "string") out.push({ role: "system", content: b.instructions });
  for (const it of items) {
    if (it && it.type === "function_call_output") out.push({ role: "tool", tool_call_id: it.call_id, content: it.output });
    else if (it && it.type === "function_call") {
      out.push({ role: "assistant", content: null, tool_calls: [{ id: it.call_id, name: it.name, arguments: it.arguments }] });
    } else out.push(it);
  }
  return typeof b.input === "string" && out.length === 1 ? b.input : out;
}

function responsesOutput(res) {
  const msg = { role: "assistant", content: null };
  let text = "";
  let any = false;
  const calls = [];
  const reasoning = [];
  for (const item of res.output ?? []) {
    if (item.type === "message") {
      for (const part of item.content ?? []) {
        if (part.type === "output_text") {
          text += part.text;
          any = true;
        } else if (part.type === "refusal") msg.refusal = part.refusal;
      }
    } else if (item.type === "function_call") {
      calls.push({ id: item.call_id, name: item.name, arguments: item.arguments });
    } else if (item.type === "reasoning") {
      for (const s of item.summary ?? []) if (s.text) reasoning.push(s.text);
    }
  }
  if (any) msg.content = text;
  if (calls.length) msg.tool_calls = calls;
  if (reasoning.length) msg.reasoning = reasoning.join("\n");
  return msg;
}

// A stream's events -> the last `response` object seen, whether the last
// event was terminal, and the text deltas (for a stream cut short).
function foldResponses(events) {
  let response;
  let text = "";
  for (const ev of events) {
    if (ev.response && typeof ev.response === "object") response = ev.response;
    if (ev.type === "response.output_text.delta") text += ev.delta ?? "";
  }
  const terminal = !!response && TERMINAL.has(events[events.length - 1]?.type);
  return { response, terminal, text };
}

export const responses = {
  op: "responses",
  provider: "openai",
  kind: "llm",
  isContent(ev) {
    return typeof ev.type === "string" && ev.type.endsWith(".delta");
  },
  complete(events) {
    const last = events[events.length - 1];
    return !!last && TERMINAL.has(last.type);
  },
  endStream,
  fold: foldResponses,
  toSpan(rec, span) {
    const b = rec.body || {};
    span.input = responsesInput(b);
    span.params = pick(b, RESPONSES_PARAMS);
    if (span.user === undefined && typeof b.user === "string") span.user = b.user;
    let res = rec.result;
    if (rec.stream) {
      const f = res || {};
      res = f.response;
      if (!f.terminal) {
        if (res && res.model) span.response_model = res.model;
        if (f.text) span.output = { role: "assistant", content: f.text };
        return;
      }
    }
    if (!res || typeof res !== "object") return;
    if (res.model) span.response_model = res.model;
    const out = responsesOutput(res);
    if (res.status === "incomplete") {
      const why = res.incomplete_details?.reason;
      out.finish_reason = why === "max_output_tokens" ? "length" : why || "incomplete";
    } else if (res.status === "completed") out.finish_reason = out.tool_calls ? "tool_calls" : "stop";
    if (out.finish_reason) span.finish_reason = out.finish_reason;
    span.output = out;
    if (res.status === "failed" && !rec.error) {
      rec.status = "error";
      rec.error = { code: String(res.error?.code ?? "failed"), message: String(res.error?.message ?? "response failed") };
    }
    const u = openaiUsage(res.usage);
    if (u) span.usage = u;
    if (typeof res.service_tier === "string") span.service_tier = res.service_tier;
  },
};

export const embeddings = {
  op: "embeddings",
  provider: "openai",
  kind: "embedding",
  isContent: () => false,
  complete: () => true,
  fold: () => undefined,
  endStream,
  // The vectors are not kept until the batch goes: only what the span needs.
  keep(res) {
    if (!res || typeof res !== "object") return res;
    const data = Array.isArray(res.data) ? res.data : [];
    const first = data[0]?.embedding;
    const dims = Array.isArray(first) || ArrayBuffer.isView(first) ? first.length : undefined;
    return { model: res.model, usage: res.usage, count: data.length, dims };
  },
  toSpan(rec, span) {
    const b = rec.body || {};
    span.input = b.input;
    span.params = pick(b, ["dimensions", "encoding_format"]);
    if (span.user === undefined && typeof b.user === "string") span.user = b.user;
    const res = rec.result;
    if (!res || typeof res !== "object") return;
    if (res.model) span.response_model = res.model;
    span.attributes = { "embedding.count": res.count };
    if (res.dims !== undefined) span.attributes["embedding.dimensions"] = res.dims;
    const u = openaiUsage(res.usage);
    if (u) span.usage = { input_tokens: u.input_tokens ?? 0, output_tokens: 0 };
  },
};

export const OPENAI_PLAN = {
  chat: { completions: { create: chat } },
  responses: { create: responses },
  embeddings: { create: embeddings },
};
