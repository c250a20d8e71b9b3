// proxy_sdk.mjs: the official npm `openai` and `@anthropic-ai/sdk` clients,
// unchanged but for their base URL, against llmtap's proxy (whose upstreams
// are the fake upstream). Each call carries its own LLMTap-Session so its
// span can be found; after the calls, the spans are read back with
// `llmtap query --json` and checked against what the SDKs themselves saw.
//
//   node proxy_sdk.mjs calls  --url URL            (prints what the SDKs saw, JSON)
//   node proxy_sdk.mjs budget --url URL            (expects 402 from both SDKs)
//   node proxy_sdk.mjs check  --llmtap BIN --db DB --seen FILE
// Exit 0 = pass; failures are printed on stderr.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";

const args = Object.fromEntries(
  process.argv.slice(3).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const mode = process.argv[2];

function fail(msg) {
  console.error(`proxy_sdk: FAIL: ${msg}`);
  process.exit(1);
}

function expect(cond, msg) {
  if (!cond) fail(msg);
}

function clients(url) {
  const openai = new OpenAI({ apiKey: "sk-test-sdk-0001", baseURL: `${url}/proxy/openai/v1`, maxRetries: 0 });
  const anthropic = new Anthropic({ apiKey: "sk-ant-test-0001", baseURL: `${url}/proxy/anthropic`, maxRetries: 0 });
  return { openai, anthropic };
}

const as = (session) => ({ headers: { "LLMTap-Session": session } });
const user = [{ role: "user", content: "Where is my parcel? It was order 4417." }];

async function chatPlain(openai) {
  const r = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: user }, as("chat-plain"));
  return { text: r.choices[0].message.content, input: r.usage.prompt_tokens, output: r.usage.completion_tokens };
}

async function chatStream(openai) {
  const stream = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: user, stream: true }, as("chat-stream"));
  let text = "";
  let chunks = 0;
  let empty = 0;
  let usage = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.choices.length === 0) empty++;
    if (chunk.usage) usage = chunk.usage;
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  return { text, chunks, empty, usage };
}

async function chatTools(openai) {
  const tools = [{ type: "function", function: { name: "lookup_order", description: "Find an order",
    parameters: { type: "object", properties: { order_id: { type: "string" } }, required: ["order_id"] } } }];
  const r = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: user, tools }, as("chat-tools"));
  const call = r.choices[0].message.tool_calls?.[0];
  return { finish: r.choices[0].finish_reason, tool: call?.function?.name, args: call?.function?.arguments,
    input: r.usage.prompt_tokens, output: r.usage.completion_tokens };
}

async function responsesStream(openai) {
  const stream = await openai.responses.create({ model: "gpt-4o-mini", input: "Say hello to the parcel team.", stream: true }, as("responses-stream"));
  let text = "";
  let usage = null;
  for await (const ev of stream) {
    if (ev.type === "response.output_text.delta") text += ev.delta;
    if (ev.type === "response.completed") usage = ev.response.usage;
  }
  return { text, input: usage?.input_tokens, output: usage?.output_tokens };
}

async function embeddings(openai) {
  const r = await openai.embeddings.create({ model: "text-embedding-3-small", input: ["a lost parcel", "a missing parcel"] }, as("embeddings"));
  const [a, b] = r.data.map((d) => d.embedding);
  const dot = a.reduce((s, x, i) => s + x * b[i], 0);
  return { count: r.data.length, dims: a.length, input: r.usage.prompt_tokens, cosine: dot };
}

async function messagesPlain(anthropic) {
  const r = await anthropic.messages.create({ model: "claude-sonnet-4-5", max_tokens: 200, system: "Be brief.", messages: user }, as("messages-plain"));
  const u = r.usage;
  return { text: r.content[0].text, input: u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0),
    output: u.output_tokens };
}

async function messagesStream(anthropic) {
  const stream = anthropic.messages.stream({ model: "claude-sonnet-4-5", max_tokens: 200, messages: user }, as("messages-stream"));
  let text = "";
  stream.on("text", (t) => { text += t; });
  const m = await stream.finalMessage();
  return { text, input: m.usage.input_tokens, output: m.usage.output_tokens };
}

async function calls() {
  const { openai, anthropic } = clients(args.url);
  const seen = {
    "chat-plain": await chatPlain(openai),
    "chat-stream": await chatStream(openai),
    "chat-tools": await chatTools(openai),
    "responses-stream": await responsesStream(openai),
    embeddings: await embeddings(openai),
    "messages-plain": await messagesPlain(anthropic),
    "messages-stream": await messagesStream(anthropic),
  };
  const s = seen["chat-stream"];
  expect(s.empty === 0 && s.usage === null, `the client saw a usage chunk it did not ask for (${s.empty} empty)`);
  expect(s.text.length > 0, "the chat stream had no text");
  expect(seen["chat-tools"].tool === "lookup_order" && seen["chat-tools"].finish === "tool_calls", "no tool call came back");
  expect(seen.embeddings.dims === 1536 && seen.embeddings.cosine > 0.5, `embeddings look wrong: ${JSON.stringify(seen.embeddings)}`);
  console.log(JSON.stringify(seen));
}

async function budget() {
  const { openai, anthropic } = clients(args.url);
  const h = { headers: { "LLMTap-User": "over-budget", "LLMTap-Session": "budget" } };
  try {
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages: user }, h);
    fail("openai: the call over budget was not refused");
  } catch (e) {
    expect(e instanceof OpenAI.APIError, `openai: not an APIError: ${e}`);
    expect(e.status === 402, `openai: status ${e.status}`);
    expect(/budget/i.test(e.message), `openai: message ${e.message}`);
    expect(e.code === "BUDGET_EXHAUSTED", `openai: code ${e.code}`);
  }
  try {
    await anthropic.messages.create({ model: "claude-sonnet-4-5", max_tokens: 50, messages: user }, h);
    fail("anthropic: the call over budget was not refused");
  } catch (e) {
    expect(e instanceof Anthropic.APIError, `anthropic: not an APIError: ${e}`);
    expect(e.status === 402, `anthropic: status ${e.status}`);
    expect(e.error?.error?.type === "billing_error", `anthropic: error ${JSON.stringify(e.error)}`);
  }
  console.log("budget: both SDKs raised their normal 402 error");
}

function spans(llmtap, db) {
  const out = execFileSync(llmtap, ["query", "--db", db, "--json",
    "SELECT session_id, kind, status, error_code, input_tokens, output_tokens, cost_usd, ttft_ms, input, output FROM spans"]);
  const bySession = {};
  for (const r of JSON.parse(out)) (bySession[r.session_id] ??= []).push(r);
  return bySession;
}

function check() {
  const seen = JSON.parse(readFileSync(args.seen, "utf8"));
  const got = spans(args.llmtap, args.db);
  for (const [session, s] of Object.entries(seen)) {
    const rows = got[session] ?? [];
    expect(rows.length === 1, `${session}: ${rows.length} spans`);
    const r = rows[0];
    expect(r.status === "ok", `${session}: status ${r.status} ${r.error_code}`);
    expect(r.cost_usd !== null && r.cost_usd > 0, `${session}: unpriced`);
    if (s.input !== undefined) expect(r.input_tokens === s.input, `${session}: input_tokens ${r.input_tokens}, the SDK saw ${s.input}`);
    if (s.output !== undefined) expect(r.output_tokens === s.output, `${session}: output_tokens ${r.output_tokens}, the SDK saw ${s.output}`);
    if (s.text) expect(JSON.stringify(JSON.parse(r.output)).includes(JSON.stringify(s.text).slice(1, -1)), `${session}: stored output lacks the text the SDK got`);
    expect(r.input && r.input.includes("parcel"), `${session}: the prompt was not stored`);
  }
  for (const session of ["chat-stream", "responses-stream", "messages-stream"])
    expect(got[session][0].ttft_ms !== null && got[session][0].ttft_ms >= 0, `${session}: no TTFT`);
  expect(got["chat-tools"][0].output.includes("lookup_order"), "chat-tools: the tool call was not stored");
  expect(got.embeddings[0].kind === "embedding", "embeddings: wrong kind");
  const cs = got["chat-stream"][0];
  expect(cs.output_tokens === seen["chat-stream"].chunks - 2, `chat-stream: ${cs.output_tokens} tokens for ${seen["chat-stream"].chunks} chunks`);
  const blocked = got.budget ?? [];
  expect(blocked.length === 2 && blocked.every((r) => r.status === "blocked" && r.error_code === "BUDGET_EXHAUSTED"),
    `budget: ${JSON.stringify(blocked.map((r) => [r.status, r.error_code]))}`);
  console.log(`check: ${Object.keys(seen).length} SDK calls and 2 refusals match their spans`);
}

const run = { calls, budget, check }[mode];
if (!run) fail(`unknown mode ${mode}`);
await run();
