// The token of an `Authorization: Bearer <token>` header, or null: one parser for every route
// that takes a bearer token (admin, metrics, operator pages, secrets).

export function bearerToken(header: string | null | undefined): string | null {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? "")?.[1] ?? null;
}
