// Multi-probe LSH (workers/vectorize/lsh.ts): besides its own bucket, a search reads in each band
// the buckets one least-confident bit away, where a near vector that fell on the other side of a
// hyperplane the query lies close to is found.
import { describe, expect, it } from "vitest";
import { LSH_BANDS, LSH_BITS, LSH_PROBES, lshBuckets, lshProbes } from "../workers/vectorize/lsh";
import { OfflineEmbedder } from "../workers/vectorize/offline-embedder";

const embedder = new OfflineEmbedder();
const differingBits = (a: number, b: number) => (a ^ b).toString(2).replaceAll("0", "").length;

describe("lshProbes", () => {
  it("probes the vector's own bucket first, then LSH_PROBES distinct buckets one bit away, in every band", async () => {
    const [vector] = await embedder.embed(["the boiler at the Porto flat has no hot water"]);
    const own = lshBuckets(vector!);
    const probes = lshProbes(vector!);
    expect(probes).toHaveLength(LSH_BANDS);
    probes.forEach((buckets, band) => {
      expect(buckets[0]).toBe(own[band]);
      expect(new Set(buckets).size).toBe(1 + LSH_PROBES);
      for (const neighbour of buckets.slice(1)) {
        expect(differingBits(neighbour, own[band]!)).toBe(1);
        expect(neighbour).toBeLessThan(2 ** LSH_BITS);
      }
    });
    expect(lshProbes(vector!, 0)).toEqual(own.map((bucket) => [bucket]));
  });
});
