import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { loadSharedFixtures } from "./shared-fixtures.ts";

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function fixtureDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "fixtures-"));
  made.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), JSON.stringify(content));
  }
  return dir;
}

it("reads Aircall capture arrays and single Guesty bodies, in file order", () => {
  const dir = fixtureDir({
    "aircall/b.json": [{ name: "call.created", body: { event: "call.created" } }, { name: "call.ended", body: { event: "call.ended" } }],
    "aircall/a.json": [{ name: "contact.created", body: { event: "contact.created" } }],
    "guesty/guest.created.json": { event: "guest.created" },
    "guesty/notes.txt": "not a fixture",
    "hetzner/ignored.json": { not: "intake" },
  });
  expect(loadSharedFixtures(dir)).toEqual([
    { file: "aircall/a.json#0", source: "aircall", name: "contact.created", body: { event: "contact.created" } },
    { file: "aircall/b.json#0", source: "aircall", name: "call.created", body: { event: "call.created" } },
    { file: "aircall/b.json#1", source: "aircall", name: "call.ended", body: { event: "call.ended" } },
    { file: "guesty/guest.created.json#0", source: "guesty", name: "guest.created", body: { event: "guest.created" } },
  ]);
});

it("returns nothing for a missing folder, so the conformance suite skips", () => {
  expect(loadSharedFixtures(join(tmpdir(), "no-such-fixtures-folder-0000"))).toEqual([]);
});
