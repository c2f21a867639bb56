import type { EventSource } from "../db/schema";

/** Per-request values that the access log reports. */
export type RequestVariables = {
  requestId: string;
  source?: EventSource;
  eventType?: string;
  eventId?: string;
  outcome?: string;
};

export type AppEnv = { Bindings: Env; Variables: RequestVariables };
