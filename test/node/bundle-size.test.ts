// The bundle-size budget (scripts/bundle-size.ts) on folders shaped like
// `wrangler deploy --dry-run --outdir`: the modules gzip'd together are measured, sourcemaps and
// wrangler's README left out; within 500 KiB exits 0, above it exits 1 saying by how much.
// (The real production build is measured by ci.yml's `npm run bundle-size`.)
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { BUDGET_BYTES, main, measureBundle } from "../../scripts/bundle-size.ts";

const WRANGLER_README = 'This folder contains the built output assets for the worker "edge-ops-production" generated at 2026-12-06T09:55:02.997Z.';

function outdir(files: Record<string, Buffer | string>): string {
  const dir = mkdtempSync(join(tmpdir(), "bundle-size-test-"));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

async function run(argv: string[], summary?: string) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, summary ? { GITHUB_STEP_SUMMARY: summary } : {}, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("measureBundle", () => {
  it("gzips the modules together, leaving out sourcemaps and wrangler's README", () => {
    const entry = Buffer.from("export default { fetch() { return new Response('ok'); } };\n".repeat(200));
    const extra = randomBytes(4096);
    // Incompressible and far over the budget: counted, it would fail the build.
    const dir = outdir({ "index.js": entry, "lib/extra.wasm": extra, "index.js.map": randomBytes(2 * BUDGET_BYTES), "README.md": WRANGLER_README });
    const size = measureBundle(dir);
    expect(size.modules).toEqual(["index.js", join("lib", "extra.wasm")]);
    expect(size.bytes).toBe(entry.byteLength + extra.byteLength);
    expect(size.gzipBytes).toBe(gzipSync(Buffer.concat([entry, extra])).byteLength);
  });

  it("counts a README.md that wrangler did not write", () => {
    expect(measureBundle(outdir({ "index.js": "export default {};", "README.md": "# a module of ours" })).modules).toEqual(["README.md", "index.js"]);
  });

  it("refuses a folder without modules", () => {
    expect(() => measureBundle(outdir({ "README.md": WRANGLER_README }))).toThrow(/holds no modules/);
  });
});

describe("npm run bundle-size -- --outdir", () => {
  it("exits 0 within the budget and prints the size", async () => {
    const summary = join(mkdtempSync(join(tmpdir(), "bundle-size-summary-")), "summary.md");
    const result = await run(["--outdir", outdir({ "index.js": "export default {};\n".repeat(1000) })], summary);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^bundle \(production\): [\d.]+ KiB gzip, [\d.]+ KiB uncompressed, 1 module; within the 500\.0 KiB budget \([\d.]+ KiB left\)$/);
    expect(readFileSync(summary, "utf8")).toContain("within the 500.0 KiB budget");
  });

  it("exits 1 above the budget, saying by how much", async () => {
    // Random bytes do not compress: 10 KiB over the budget once gzip'd.
    const result = await run(["--outdir", outdir({ "index.js": randomBytes(BUDGET_BYTES + 10 * 1024) })]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^error: bundle \(production\): [\d.]+ KiB gzip, .* over the 500\.0 KiB budget by 1\d\.\d KiB$/);
  });

  it("exits 1 on a usage error", async () => {
    const result = await run(["--bogus"]);
    expect(result.code).toBe(1);
    expect(result.err).toContain("usage: npm run bundle-size");
  });
});
