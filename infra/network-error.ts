// What a failed fetch says to an operator: the host it tried and the cause, in words. Node's
// fetch throws TypeError("fetch failed") with the cause (an errno code) underneath; the raw
// message is never shown, only the host and a known code.

const CAUSES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host name not found (DNS)",
  EAI_AGAIN: "DNS lookup failed (temporary)",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed by the other side",
  UND_ERR_HEADERS_TIMEOUT: "no answer in time",
  CERT_HAS_EXPIRED: "TLS certificate expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed TLS certificate",
  SELF_SIGNED_CERT_IN_CHAIN: "self-signed TLS certificate in the chain",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "TLS certificate not trusted",
  ERR_TLS_CERT_ALTNAME_INVALID: "TLS certificate is for another host name",
};

const codeOf = (value: unknown): string | undefined => {
  const code = (value as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
};

/** The cause of a failed request in words, with its code: "connection refused (ECONNREFUSED)". */
export function networkCause(error: unknown): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) return "no answer within the time limit";
  const cause = error instanceof Error ? error.cause : undefined;
  const nested = cause instanceof AggregateError ? cause.errors[0] : undefined;
  const code = codeOf(cause) ?? codeOf(nested) ?? codeOf(error);
  if (code) return `${CAUSES[code] ?? "network error"} (${code})`;
  // fetch refuses some ports outright (the Fetch standard's "bad port" list).
  if (cause instanceof Error && cause.message === "bad port") return "a port fetch refuses to use (bad port)";
  if (cause instanceof Error && (cause.name === "TimeoutError" || cause.name === "AbortError")) return "no answer within the time limit";
  return "network error";
}

/** "cannot reach 127.0.0.1:1: connection refused (ECONNREFUSED)" for a failed request to `url`. */
export function describeNetworkError(url: string, error: unknown): string {
  let host = url;
  try {
    host = new URL(url).host;
  } catch {
    // not a URL: shown as given
  }
  return `cannot reach ${host}: ${networkCause(error)}`;
}

/** Whether `error` is a failed connection rather than an answer. */
export const isNetworkError = (error: unknown) =>
  error instanceof TypeError || (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError"));
