// Loads the real captured vendor deliveries from ../shared/fixtures (or SHARED_FIXTURES_DIR)
// in Node, so vitest.config.ts can hand them to the workerd tests as a binding. A user's
// clone has no ../shared: then the list is empty and the conformance suite skips.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { JsonValue, SharedFixture } from "../support/shared-fixture.ts";


export function sharedFixturesDir(): string {
  return resolve(process.env.SHARED_FIXTURES_DIR ?? "../shared/fixtures");
}

export function loadSharedFixtures(dir = sharedFixturesDir()): SharedFixture[] {
  if (!existsSync(dir)) return [];
  const fixtures: SharedFixture[] = [];
  for (const source of ["aircall", "guesty", "rocketchat"] as const) {
    const folder = join(dir, source);
    if (!existsSync(folder)) continue;
    for (const file of readdirSync(folder).filter((name) => name.endsWith(".json")).sort()) {
      const parsed: unknown = JSON.parse(readFileSync(join(folder, file), "utf8"));
      // Aircall captures are arrays of {name, body}; Guesty examples are single bodies.
      const items = Array.isArray(parsed) ? parsed : [{ name: file.replace(/\.json$/, ""), body: parsed }];
      items.forEach((item: { name?: string; body: JsonValue }, index) => {
        fixtures.push({ file: `${source}/${file}#${index}`, source, name: item.name ?? file, body: item.body });
      });
    }
  }
  return fixtures;
}
