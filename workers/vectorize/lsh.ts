// Random-hyperplane locality-sensitive hashing: the dense half's candidate buckets in the D1
// store. Each of LSH_BANDS bands hashes a vector to LSH_BITS sign bits (the side of a seeded
// random hyperplane it falls on), so vectors at a small angle share a band's bucket with high
// probability. A search reads at most LSH_BUCKET_ROWS chunks of each of its buckets: a bounded
// slice however large the index, at the price of missing near vectors that share no bucket
// (the keyword candidates, read the same bounded way, cover what the words find).

/** mulberry32, seeded: every isolate draws the same hyperplanes (as scripts/bench/prng.ts). */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export const LSH_BANDS = 8;
export const LSH_BITS = 12;
/** Chunks read per band's bucket, newest first. */
export const LSH_BUCKET_ROWS = 64;

const planesByDimensions = new Map<number, Float32Array>();

/** LSH_BANDS * LSH_BITS hyperplanes of `dimensions` components, the same in every isolate (seeded). */
function planes(dimensions: number): Float32Array {
  let cached = planesByDimensions.get(dimensions);
  if (!cached) {
    const random = seeded(0x15e0 + dimensions);
    cached = new Float32Array(LSH_BANDS * LSH_BITS * dimensions);
    // Gaussian components (Box-Muller): a direction uniform on the sphere.
    for (let i = 0; i < cached.length; i += 1) cached[i] = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    planesByDimensions.set(dimensions, cached);
  }
  return cached;
}

/** The vector's bucket in each band (0 .. 2^LSH_BITS - 1), band 0 first. */
export function lshBuckets(vector: Float32Array): number[] {
  const dimensions = vector.length;
  const all = planes(dimensions);
  const buckets: number[] = [];
  for (let band = 0; band < LSH_BANDS; band += 1) {
    let bucket = 0;
    for (let bit = 0; bit < LSH_BITS; bit += 1) {
      const offset = (band * LSH_BITS + bit) * dimensions;
      let dot = 0;
      for (let i = 0; i < dimensions; i += 1) dot += all[offset + i]! * vector[i]!;
      bucket = (bucket << 1) | (dot >= 0 ? 1 : 0);
    }
    buckets.push(bucket);
  }
  return buckets;
}
