import { unavailable } from "../http/errors";

/** Runs a D1 or queue operation; any failure becomes a 503 so the caller retries. */
export async function withStorage<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw unavailable(`${what} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
