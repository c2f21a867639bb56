// The backup scheduler boots only from a runner snapshot whose status is `available`: a snapshot
// is `creating` while `infra backup-image` takes it (Hetzner's image status), and its disk is not
// complete yet. Against the Hetzner fake, whose images the whole workerd run shares: each test's
// snapshots carry their own `suite` label, and the client below narrows the scheduler's
// `role=backup-runner` listing to them, so other files' runner images never count here.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { backupScheduler } from "../durable-objects/backup-scheduler";
import { HetznerApiError, HetznerClient, type HetznerImage } from "../workers/hetzner/client";

/** The scheduler's client, with the listing narrowed to one test's snapshots. */
class OneSuiteClient extends HetznerClient {
  readonly selectors: string[] = [];
  constructor(private readonly suite: string) {
    super({ token: env.HCLOUD_TOKEN, endpoint: env.HCLOUD_ENDPOINT });
  }
  override listImages(query: { type?: string; labelSelector?: string; sort?: string } = {}): Promise<HetznerImage[]> {
    this.selectors.push(query.labelSelector ?? "");
    return super.listImages({ ...query, labelSelector: `${query.labelSelector},suite=${this.suite}` });
  }
}

const suiteName = () => `runner-${crypto.randomUUID().slice(0, 8)}`;
async function seed(suite: string, image: { description: string; created: string; status?: "available" | "creating" }): Promise<number> {
  const response = await fetch(`${env.FAKE_HETZNER_URL}/__fake/images`, {
    method: "POST",
    body: JSON.stringify({ ...image, labels: { role: "backup-runner", suite } }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { image: { id: number } }).image.id;
}

/** The scheduler's own choice of image (its private step, called in the Durable Object). */
const newestRunnerImage = (client: HetznerClient) =>
  runInDurableObject(backupScheduler(env), (instance) => (instance as unknown as { newestRunnerImage(hetzner: HetznerClient): Promise<number> }).newestRunnerImage(client));

describe("the runner image a backup server boots from", () => {
  it("is the newest available snapshot, never a newer one still being created", async () => {
    const suite = suiteName();
    const available = await seed(suite, { description: "runner october", created: "2026-10-01T03:00:00Z" });
    await seed(suite, { description: "runner september", created: "2026-09-01T03:00:00Z" });
    await seed(suite, { description: "runner december, being taken", created: "2026-12-01T03:00:00Z", status: "creating" });
    const client = new OneSuiteClient(suite);
    expect(await newestRunnerImage(client)).toBe(available);
    expect(client.selectors).toEqual(["role=backup-runner"]);
  });

  it("fails naming the snapshot still being created when no runner snapshot is available", async () => {
    const suite = suiteName();
    await seed(suite, { description: "runner, being taken", created: "2026-12-01T03:00:00Z", status: "creating" });
    const error = await newestRunnerImage(new OneSuiteClient(suite)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HetznerApiError);
    expect((error as HetznerApiError).message).toContain("no snapshot labelled role=backup-runner is available yet (1 still being created");
    expect((error as HetznerApiError).message).toContain("BACKUP_IMAGE");
    // A run fails with an alert rather than retrying against an image that is not there.
    expect((error as HetznerApiError).isPermanent).toBe(true);
  });

  it("fails asking for a build when there is no runner snapshot at all", async () => {
    const error = await newestRunnerImage(new OneSuiteClient(suiteName())).catch((caught: unknown) => caught);
    expect((error as HetznerApiError).message).toContain("no snapshot labelled role=backup-runner (build one, or set BACKUP_IMAGE)");
  });
});
