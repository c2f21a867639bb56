// Why the Worker talks to Qdrant through its own thin client (workers/vectorize/qdrant-api.ts)
// rather than @qdrant/js-client-rest 1.19.0: these tests pin the published client's behaviour
// that the README's dependency table cites. The package is a devDependency only for them.
import { QdrantClient, QdrantClientResourceExhaustedError } from "@qdrant/js-client-rest";
import { afterAll, expect, it } from "vitest";
import { startFake } from "./fakes/http-fake.ts";

const seen: { path: string; host: string }[] = [];
const fake = await startFake((request) => {
  seen.push({ path: request.url.pathname, host: String(request.headers.host) });
  return {
    status: 429,
    headers: { "retry-after": "42" },
    body: { status: { error: "Too many requests" }, time: 0 },
  };
});
afterAll(() => fake.close());

it("reads a 429's Retry-After: 42 as 4 seconds (it takes the header's first character)", async () => {
  const client = new QdrantClient({ url: fake.url, checkCompatibility: false });
  const error = await client.getCollection("any").catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(QdrantClientResourceExhaustedError);
  expect((error as QdrantClientResourceExhaustedError).retry_after).toBe(4);
});

it("appends port 6333 to a URL without a port, so https://qdrant.example.com is not what it calls", async () => {
  const client = new QdrantClient({ url: "https://qdrant.example.com", checkCompatibility: false, timeout: 1 });
  // The client keeps the address it will call; no request is needed to see it.
  const address = (client as unknown as { _restUri: string })._restUri;
  expect(address).toBe("https://qdrant.example.com:6333");
});
