// A vendor fake: a Node HTTP server on 127.0.0.1 (an ephemeral port) that workerd tests,
// `wrangler dev` and benchmarks reach like the real API. It never keeps the process alive.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type FakeRequest = { method: string; url: URL; headers: IncomingMessage["headers"]; body: unknown };
export type FakeResponse = { status: number; body?: unknown; headers?: Record<string, string> };
export type FakeHandler = (request: FakeRequest) => FakeResponse | Promise<FakeResponse>;

export type RunningFake = { url: string; close(): Promise<void> };

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function send(response: ServerResponse, result: FakeResponse): void {
  const headers: Record<string, string> = { ...result.headers };
  if (result.body !== undefined) headers["content-type"] ??= "application/json";
  response.writeHead(result.status, headers);
  response.end(result.body === undefined ? undefined : typeof result.body === "string" ? result.body : JSON.stringify(result.body));
}

export async function startFake(handler: FakeHandler, port = 0): Promise<RunningFake> {
  const server = createServer((request, response) => {
    void (async () => {
      try {
        const url = new URL(request.url ?? "/", "http://127.0.0.1");
        send(response, await handler({ method: request.method ?? "GET", url, headers: request.headers, body: await readBody(request) }));
      } catch (error) {
        send(response, { status: 500, body: { error: error instanceof Error ? error.message : "fake failed" } });
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  server.unref();
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () => new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
