// The Groq variables two capabilities read: vectorization (summaries, GROQ_MODEL) and the
// Rocket.Chat bot (answers, GROQ_ANSWER_MODEL). Each declares and parses them itself, so either
// works or fails on its own; the key and the API root are shared, each model is its own.
import { z } from "zod";
import { secretString } from "../config/variables";

export const DEFAULT_GROQ_BASE_URL = "https://api.groq.com";

export const groqVariables = {
  apiKey: secretString(8).optional(),
  model: z.string().min(1).max(200).optional(),
  baseUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
};
