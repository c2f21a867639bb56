// A fake Groq API (OpenAI-compatible, under /openai/v1) as groq-sdk calls it:
// `POST /openai/v1/chat/completions` with Bearer auth (401 `invalid_api_key` otherwise),
// answering `{"id","object":"chat.completion","created","model","choices":[{"index","message":
// {"role":"assistant","content"[,"reasoning"]},"finish_reason"}],"usage":{...},"x_groq":{"id"}}`;
// errors as `{"error":{"message","type","code"[,"param"]}}`, a 429 with `retry-after` and
// `x-ratelimit-*` headers.
//
// Models, as Groq serves them (checked 2026-12-06 against console.groq.com/docs/reasoning,
// /docs/deprecations and /docs/model/openai/gpt-oss-20b, groq-sdk 1.6.0's types and
// groq/groq-changelog; error bodies as Groq's users report them):
// - production: openai/gpt-oss-20b, openai/gpt-oss-120b, openai/gpt-oss-safeguard-20b (reasoning;
//   `reasoning_effort` low | medium | high, default medium; `reasoning_format` rejected with 400
//   "reasoning_format is not supported with this model"), qwen/qwen3-32b (reasoning;
//   `reasoning_effort` none | default; `reasoning_format` hidden | raw | parsed);
// - retired (RETIRED_GROQ_MODELS, llama-3.1-8b-instant and llama-3.3-70b-versatile among them since
//   2026-08-16): 400 `model_decommissioned`; any other id: 404 `model_not_found`;
// - `include_reasoning` and `reasoning_format` together: 400 (groq-sdk: "mutually exclusive");
//   `reasoning_effort` a model does not take: 400; a budget over the model's maximum: 400. The
//   400 messages for these are our wording; the status, type and param are Groq's.
// A reasoning model reasons before it answers, and the reasoning comes out of the same
// `max_completion_tokens` (default: the model's maximum): `usage.completion_tokens` counts both
// and `usage.completion_tokens_details.reasoning_tokens` the reasoning. How long it reasons is
// deterministic here: (64 + prompt tokens / 20) tokens at effort low, 4x at medium (the
// default), 10x at high. A budget the reasoning uses up answers 200 with `content: ""` and
// `finish_reason: "length"`; one that runs out during the answer cuts it, also "length". The
// reasoning text is in `message.reasoning` unless `include_reasoning: false` (gpt-oss) or
// `reasoning_format: "hidden"`; qwen3's raw format puts it in `<think>` tags before the content.
//
// Answers are deterministic:
// - a question over numbered context (`<context>[1] ...</context>` then `Question: ...`, the
//   bot's prompt): the record sharing the most words with the question, cited as [n], or a
//   refusal when none shares two words — what a grounded model does;
// - anything else (a summary request): "Summary: " and the last 40 words of the last user
//   message, so tests can tell which text was summarized.
//
// Control: POST /__fake/faults {status?, retryAfter?, delayMs?, count, match?} (match: a
// substring of the last user message the fault applies to; delayMs answers that much later,
// status 0 = a normal answer); GET /__fake/requests?match= lists {model, user, system, messages,
// params} per call (params: the reasoning and budget fields sent). `latencyMs` delays every answer (benchmarks).
import { startFake, type FakeResponse, type RunningFake } from "./http-fake.ts";

export const FAKE_GROQ_API_KEY = "gsk_fake_groq_api_key";

type Fault = { status?: number; retryAfter?: number; delayMs?: number; count: number; match?: string };
type Reasoning = { efforts: readonly string[]; defaultEffort: string; formats: boolean };
type ModelSpec = { maxCompletionTokens: number; reasoning: Reasoning | null };

const GPT_OSS: ModelSpec = { maxCompletionTokens: 65_536, reasoning: { efforts: ["low", "medium", "high"], defaultEffort: "medium", formats: false } };

/** The chat models Groq serves. */
export const GROQ_MODELS: Readonly<Record<string, ModelSpec>> = {
  "openai/gpt-oss-20b": GPT_OSS,
  "openai/gpt-oss-120b": GPT_OSS,
  "openai/gpt-oss-safeguard-20b": GPT_OSS,
  "qwen/qwen3-32b": { maxCompletionTokens: 40_960, reasoning: { efforts: ["none", "default"], defaultEffort: "default", formats: true } },
};

/** Ids Groq retired: it answers them `model_decommissioned`. */
export const RETIRED_GROQ_MODELS: readonly string[] = [
  "llama-3.1-8b-instant",
  "llama-3.3-70b-versatile",
  "llama3-8b-8192",
  "llama3-70b-8192",
  "gemma2-9b-it",
  "mixtral-8x7b-32768",
  "deepseek-r1-distill-llama-70b",
  "moonshotai/kimi-k2-instruct",
  "moonshotai/kimi-k2-instruct-0905",
  "meta-llama/llama-4-maverick-17b-128e-instruct",
];

const EFFORT_FACTOR: Record<string, number> = { none: 0, low: 1, default: 4, medium: 4, high: 10 };

export const REFUSAL = "I can't find that in the records I can see.";

const contentWords = (text: string) =>
  new Set(text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((word) => word.length >= 4));

/** The grounded answer a careful model gives to the bot's prompt. */
function groundedAnswer(user: string): string {
  const context = /<context>([\s\S]*?)<\/context>/.exec(user)?.[1] ?? "";
  const question = /Question:\s*([\s\S]*)$/.exec(user)?.[1] ?? "";
  const asked = contentWords(question);
  let best: { n: string; line: string; overlap: number } | null = null;
  for (const block of context.split(/\n(?=\[\d+\] )/)) {
    const match = /^\s*\[(\d+)\] [^\n]*\n([\s\S]*)$/.exec(block);
    if (!match) continue;
    const overlap = [...contentWords(match[2]!)].filter((word) => asked.has(word)).length;
    if (!best || overlap > best.overlap) best = { n: match[1]!, line: match[2]!.trim().split("\n").slice(-1)[0]!.slice(0, 200), overlap };
  }
  return best && best.overlap >= 2 ? `According to the records: ${best.line} [${best.n}]` : REFUSAL;
}
type ChatMessage = { role: string; content: string };
type Body = {
  model?: unknown;
  messages?: unknown;
  max_completion_tokens?: number | null;
  max_tokens?: number | null;
  reasoning_effort?: string | null;
  include_reasoning?: boolean | null;
  reasoning_format?: string | null;
};

const groqError = (status: number, message: string, type: string, code: string | null, headers: Record<string, string> = {}, param?: string): FakeResponse => ({
  status,
  headers,
  body: { error: { message, type, ...(code !== null ? { code } : {}), ...(param ? { param } : {}) } },
});

const tokens = (text: string) => Math.ceil(text.length / 4);

/** What Groq answers a request whose model or parameters it refuses; null when it takes it. */
function refusal(model: string, body: Body): FakeResponse | null {
  if (RETIRED_GROQ_MODELS.includes(model)) {
    return groqError(
      400,
      `The model \`${model}\` has been decommissioned and is no longer supported. Please refer to https://console.groq.com/docs/deprecations for a recommendation on which model to use instead.`,
      "invalid_request_error",
      "model_decommissioned",
    );
  }
  const spec = GROQ_MODELS[model];
  if (!spec) return groqError(404, `The model \`${model}\` does not exist or you do not have access to it.`, "invalid_request_error", "model_not_found");
  if (body.include_reasoning != null && body.reasoning_format != null) {
    return groqError(400, "include_reasoning and reasoning_format cannot be used together", "invalid_request_error", "", {}, "include_reasoning");
  }
  if (body.reasoning_format != null && !spec.reasoning?.formats) {
    return groqError(400, "reasoning_format is not supported with this model", "invalid_request_error", "", {}, "reasoning_format");
  }
  if (body.reasoning_effort != null && !spec.reasoning?.efforts.includes(body.reasoning_effort)) {
    return groqError(400, `reasoning_effort \`${body.reasoning_effort}\` is not supported with this model`, "invalid_request_error", "", {}, "reasoning_effort");
  }
  const budget = body.max_completion_tokens ?? body.max_tokens;
  if (budget != null && budget > spec.maxCompletionTokens) {
    return groqError(400, `\`max_completion_tokens\` must be less than or equal to \`${spec.maxCompletionTokens}\`, the maximum value for this model`, "invalid_request_error", "", {}, "max_completion_tokens");
  }
  return null;
}

/** A reasoning model's thinking, `count` tokens of it. */
const reasoningText = (count: number) => "Check the records against the request and decide what to write. ".repeat(Math.ceil(count / 16) + 1).slice(0, count * 4);

export async function startFakeGroq(port = 0, options: { latencyMs?: number } = {}): Promise<RunningFake> {
  const faults: Fault[] = [];
  const calls: { model: string; user: string; system: string; messages: ChatMessage[]; params: Record<string, unknown> }[] = [];
  let sequence = 0;

  return startFake(async (request) => {
    if (request.url.pathname === "/__fake/faults" && request.method === "POST") {
      faults.push({ ...(request.body as Fault) });
      return { status: 204 };
    }
    if (request.url.pathname === "/__fake/requests") {
      const match = request.url.searchParams.get("match");
      return { status: 200, body: calls.filter((call) => match === null || call.user.includes(match)) };
    }
    if (request.url.pathname !== "/openai/v1/chat/completions" || request.method !== "POST") {
      return groqError(404, "Unknown request URL", "invalid_request_error", "unknown_url");
    }
    if (request.headers.authorization !== `Bearer ${FAKE_GROQ_API_KEY}`) {
      return groqError(401, "Invalid API Key", "invalid_request_error", "invalid_api_key");
    }
    const body = request.body as Body;
    if (typeof body?.model !== "string" || !Array.isArray(body.messages) || body.messages.length === 0) {
      return groqError(400, "'model' and 'messages' are required", "invalid_request_error", null);
    }
    const model = body.model;
    const messages = body.messages as ChatMessage[];
    const user = [...messages].reverse().find((message) => message.role === "user")?.content ?? "";
    const params = Object.fromEntries(
      (["max_completion_tokens", "max_tokens", "reasoning_effort", "include_reasoning", "reasoning_format"] as const).filter((key) => body[key] !== undefined).map((key) => [key, body[key]]),
    );
    calls.push({ model, user, system: messages.find((message) => message.role === "system")?.content ?? "", messages, params });

    const refused = refusal(model, body);
    if (refused) return refused;
    const spec = GROQ_MODELS[model]!;

    const fault = faults.find((candidate) => candidate.count > 0 && (candidate.match === undefined || user.includes(candidate.match)));
    if (fault) fault.count -= 1;
    const delayMs = (fault?.delayMs ?? 0) + (options.latencyMs ?? 0);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (fault?.status) {
      if (fault.status === 429) {
        return groqError(429, `Rate limit reached for model \`${model}\` on tokens per minute (TPM). Please try again in ${fault.retryAfter ?? 1}s.`, "tokens", "rate_limit_exceeded", {
          "retry-after": String(fault.retryAfter ?? 1),
          "x-ratelimit-limit-tokens": "6000",
          "x-ratelimit-remaining-tokens": "0",
          "x-ratelimit-reset-tokens": `${fault.retryAfter ?? 1}s`,
        });
      }
      return groqError(fault.status, "Internal Server Error", "internal_server_error", null);
    }

    const answer = user.includes("<context>") ? groundedAnswer(user) : `Summary: ${user.split(/\s+/).filter(Boolean).slice(-40).join(" ")}`;
    const promptTokens = Math.ceil(messages.reduce((sum, message) => sum + message.content.length, 0) / 4);
    const budget = body.max_completion_tokens ?? body.max_tokens ?? spec.maxCompletionTokens;
    // The reasoning comes first, out of the same budget; the answer gets what is left.
    const effort = body.reasoning_effort ?? spec.reasoning?.defaultEffort ?? "none";
    const reasoningWanted = spec.reasoning ? (EFFORT_FACTOR[effort] ?? 4) * (64 + Math.ceil(promptTokens / 20)) : 0;
    const reasoningTokens = Math.min(reasoningWanted, budget);
    const answerBudget = budget - reasoningTokens;
    const content = tokens(answer) <= answerBudget ? answer : answer.slice(0, answerBudget * 4);
    const finished = reasoningWanted < budget && content === answer;
    const format = spec.reasoning?.formats
      ? (body.reasoning_format ?? (body.include_reasoning === false ? "hidden" : "raw"))
      : body.include_reasoning === false
        ? "hidden"
        : "parsed";
    const reasoning = reasoningTokens > 0 ? reasoningText(reasoningTokens) : "";
    const message =
      format === "parsed" && reasoning
        ? { role: "assistant", content, reasoning }
        : format === "raw" && reasoning
          ? { role: "assistant", content: `<think>${reasoning}</think>${content}` }
          : { role: "assistant", content };
    sequence += 1;
    const completionTokens = reasoningTokens + tokens(content);
    return {
      status: 200,
      body: {
        id: `chatcmpl-fake-${sequence}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: finished ? "stop" : "length" }],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
          ...(spec.reasoning ? { completion_tokens_details: { reasoning_tokens: reasoningTokens } } : {}),
          queue_time: 0.01,
          prompt_time: 0.01,
          completion_time: 0.02,
          total_time: 0.03,
        },
        system_fingerprint: "fp_fake",
        x_groq: { id: `req_fake_${sequence}` },
      },
    };
  }, port);
}
