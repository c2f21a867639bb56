// A fake Groq API (OpenAI-compatible, under /openai/v1) as groq-sdk calls it:
// `POST /openai/v1/chat/completions` with Bearer auth (401 `invalid_api_key` otherwise),
// answering `{"id","object":"chat.completion","created","model","choices":[{"index","message":
// {"role":"assistant","content"},"finish_reason":"stop"}],"usage":{...},"x_groq":{"id"}}`;
// errors as `{"error":{"message","type","code"}}`, a 429 with `retry-after` and
// `x-ratelimit-*` headers. Answers are deterministic:
// - a question over numbered context (`<context>[1] ...</context>` then `Question: ...`, the
//   bot's prompt): the record sharing the most words with the question, cited as [n], or a
//   refusal when none shares two words — what a grounded model does;
// - anything else (a summary request): "Summary: " and the last 40 words of the last user
//   message, so tests can tell which text was summarized.
//
// Control: POST /__fake/faults {status?, retryAfter?, delayMs?, count, match?} (match: a
// substring of the last user message the fault applies to; delayMs answers that much later,
// status 0 = a normal answer); GET /__fake/requests?match= lists {model, user, system, messages} per call.
// `latencyMs` delays every answer (benchmarks).
import { startFake, type FakeResponse, type RunningFake } from "./http-fake.ts";

export const FAKE_GROQ_API_KEY = "gsk_fake_groq_api_key";

type Fault = { status?: number; retryAfter?: number; delayMs?: number; count: number; match?: string };

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

const groqError = (status: number, message: string, type: string, code: string | null, headers: Record<string, string> = {}): FakeResponse => ({
  status,
  headers,
  body: { error: { message, type, ...(code ? { code } : {}) } },
});

export async function startFakeGroq(port = 0, options: { latencyMs?: number } = {}): Promise<RunningFake> {
  const faults: Fault[] = [];
  const calls: { model: string; user: string; system: string; messages: ChatMessage[] }[] = [];
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
    const body = request.body as { model?: unknown; messages?: unknown };
    if (typeof body?.model !== "string" || !Array.isArray(body.messages) || body.messages.length === 0) {
      return groqError(400, "'model' and 'messages' are required", "invalid_request_error", null);
    }
    const messages = body.messages as ChatMessage[];
    const user = [...messages].reverse().find((message) => message.role === "user")?.content ?? "";
    calls.push({ model: body.model, user, system: messages.find((message) => message.role === "system")?.content ?? "", messages });

    const fault = faults.find((candidate) => candidate.count > 0 && (candidate.match === undefined || user.includes(candidate.match)));
    if (fault) fault.count -= 1;
    const delayMs = (fault?.delayMs ?? 0) + (options.latencyMs ?? 0);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (fault?.status) {
      if (fault.status === 429) {
        return groqError(429, `Rate limit reached for model \`${body.model}\` on tokens per minute (TPM). Please try again in ${fault.retryAfter ?? 1}s.`, "tokens", "rate_limit_exceeded", {
          "retry-after": String(fault.retryAfter ?? 1),
          "x-ratelimit-limit-tokens": "6000",
          "x-ratelimit-remaining-tokens": "0",
          "x-ratelimit-reset-tokens": `${fault.retryAfter ?? 1}s`,
        });
      }
      return groqError(fault.status, "Internal Server Error", "internal_server_error", null);
    }

    const content = user.includes("<context>") ? groundedAnswer(user) : `Summary: ${user.split(/\s+/).filter(Boolean).slice(-40).join(" ")}`;
    sequence += 1;
    const promptTokens = Math.ceil(messages.reduce((sum, message) => sum + message.content.length, 0) / 4);
    const completionTokens = Math.ceil(content.length / 4);
    return {
      status: 200,
      body: {
        id: `chatcmpl-fake-${sequence}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content }, logprobs: null, finish_reason: "stop" }],
        usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens, queue_time: 0.01, prompt_time: 0.01, completion_time: 0.02, total_time: 0.03 },
        system_fingerprint: "fp_fake",
        x_groq: { id: `req_fake_${sequence}` },
      },
    };
  }, port);
}
