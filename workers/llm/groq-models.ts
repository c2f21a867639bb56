// What we rely on about Groq's models: which ones reason before answering, the parameters that
// keep their reasoning short and out of the returned text, the completion budgets, and the error
// codes that mean "this model is gone" (a configuration error, never a transient one).
//
// Checked 2026-12-06 against:
// - groq-sdk 1.6.0 `resources/chat/completions.d.ts`: `reasoning_effort` ('none' | 'default' |
//   'low' | 'medium' | 'high'; "openai/gpt-oss-20b and openai/gpt-oss-120b support 'low',
//   'medium', or 'high'. 'medium' is the default"; qwen3 supports 'none'), `include_reasoning`
//   and `reasoning_format` ("mutually exclusive"), `message.reasoning`, `finish_reason`
//   'length'; `resources/completions.d.ts`: `usage.completion_tokens_details.reasoning_tokens`.
// - console.groq.com/docs/reasoning: `include_reasoning: false` excludes the reasoning from the
//   response; "with openai/gpt-oss-20b and openai/gpt-oss-120b, the reasoning_format parameter is
//   not supported" (the page as stored and as its users quote it); Groq then answers 400
//   "reasoning_format is not supported with this model", param `reasoning_format` (a user's report).
// - groq/groq-changelog (commit c9389fd, 2025-08-19): `include_reasoning` supported for all models.
// - Groq's error bodies as its users report them (mem0ai/mem0#4694, ItzCrazyKns/Vane#771,
//   lobehub/lobehub#3367, continuedev/continue#10166): a retired model answers 400
//   `{"error":{"message":"The model `…` has been decommissioned and is no longer supported. …",
//   "type":"invalid_request_error","code":"model_decommissioned"}}`; an unknown one (or one the
//   account may not use) 404 `{"error":{"message":"The model `…` does not exist or you do not
//   have access to it.","type":"invalid_request_error","code":"model_not_found"}}`. Both codes
//   are handled the same way, whichever a retired id gets. llama-3.1-8b-instant and
//   llama-3.3-70b-versatile were retired on 2026-08-16 (console.groq.com/docs/deprecations, as
//   quoted in papi-ai/groq v0.15.2's release notes); the recommended replacements are
//   openai/gpt-oss-20b and openai/gpt-oss-120b.

/** The request fields (groq-sdk's `CompletionCreateParams`) that steer reasoning. */
type ReasoningParameters = {
  reasoning_effort?: "none" | "low" | "medium" | "high";
  include_reasoning?: boolean;
  reasoning_format?: "hidden";
};
export type ReasoningEffort = "low" | "medium" | "high";

/** Groq error codes that mean the configured model cannot be used: fix the variable, do not retry. */
export const MODEL_UNAVAILABLE_CODES = ["model_not_found", "model_decommissioned"] as const;
export type ModelUnavailableCode = (typeof MODEL_UNAVAILABLE_CODES)[number];
export const isModelUnavailableCode = (code: string | null): code is ModelUnavailableCode =>
  (MODEL_UNAVAILABLE_CODES as readonly (string | null)[]).includes(code);

/**
 * Completion budgets (`max_completion_tokens`). A reasoning model spends its reasoning tokens
 * from the same budget before it writes a word, so a budget sized for the answer alone ends
 * with `finish_reason: "length"` and no text. At `reasoning_effort: "low"` gpt-oss reasons for
 * a few hundred tokens on our prompts; these leave room for that and the answer several times over.
 */
export const SUMMARY_MAX_COMPLETION_TOKENS = 1024;
export const ANSWER_MAX_COMPLETION_TOKENS = 1536;

/**
 * The reasoning parameters a model takes: gpt-oss reasons briefly and keeps it out of the reply
 * (`include_reasoning: false`; `reasoning_format` would be a 400 for it); qwen3 does not reason
 * and hides any reasoning; any other model gets none of these parameters.
 */
export function reasoningParameters(model: string, effort: ReasoningEffort = "low"): ReasoningParameters {
  if (model.startsWith("openai/gpt-oss-")) return { reasoning_effort: effort, include_reasoning: false };
  if (model.startsWith("qwen/qwen3")) return { reasoning_effort: "none", reasoning_format: "hidden" };
  return {};
}
