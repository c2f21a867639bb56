// One error taxonomy: a short public message for the wire, a precise internal reason for
// the log, and whether an operator should be alerted.
import type { ContentfulStatusCode } from "hono/utils/http-status";

export class AppError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly publicMessage: string,
    readonly internalReason: string = publicMessage,
    readonly alert: boolean = false,
  ) {
    super(internalReason);
    this.name = "AppError";
  }
}

export const badRequest = (reason: string) => new AppError(400, reason);
export const unauthorized = (internalReason: string) => new AppError(401, "unauthorized", internalReason);
export const payloadTooLarge = (limit: number) => new AppError(413, `body exceeds ${limit} bytes`);
export const unsupportedMediaType = () => new AppError(415, "content-type must be application/json");
/** Storage or queue failure: the sender should retry. */
export const unavailable = (internalReason: string) =>
  new AppError(503, "temporarily unavailable, retry later", internalReason, true);
