import type { EventSource } from "../db/schema";

/** Per-request values that the access log reports. */
export type RequestVariables = {
  requestId: string;
  source?: EventSource;
  eventType?: string;
  eventId?: string;
  outcome?: string;
  /** false: this request's outcome is recorded elsewhere (an accepted webhook is a row in D1). */
  accessLog?: boolean;
};

export type AppEnv = { Bindings: Env; Variables: RequestVariables };
