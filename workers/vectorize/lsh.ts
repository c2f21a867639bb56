// Random-hyperplane locality-sensitive hashing: the dense half's candidate buckets in the D1
// store. Each of LSH_BANDS bands hashes a vector to LSH_BITS sign bits (the side of a seeded
// random hyperplane it falls on), so vectors at a small angle share a band's bucket with high
// probability. A search reads at most LSH_BUCKET_ROWS chunks of each of its buckets: a bounded
// slice however large the index, at the price of missing near vectors that share no bucket
// (the keyword candidates, read the same bounded way, cover what the words find).

/** mulberry32, seeded: every isolate draws the same hyperplanes (the benchmarks draw their traffic with it too). */
export function seeded(seed: number): () => number {
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
/**
 * Multi-probe: besides its own bucket, a search reads this many neighbouring buckets per band,
 * the ones that differ from it in one of the band's least-confident bits (the hyperplanes the
 * query lies closest to, where a near vector most often falls on the other side). More recall
 * for the same writes; each probe is one more bounded slice read.
 */
export const LSH_PROBES = 2;

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

/** The vector's signed distance (unnormalized) to each band's hyperplanes, band by band, bit 0 first. */
function margins(vector: Float32Array): Float32Array {
  const dimensions = vector.length;
  const all = planes(dimensions);
  const dots = new Float32Array(LSH_BANDS * LSH_BITS);
  for (let plane = 0; plane < dots.length; plane += 1) {
    const offset = plane * dimensions;
    let dot = 0;
    for (let i = 0; i < dimensions; i += 1) dot += all[offset + i]! * vector[i]!;
    dots[plane] = dot;
  }
  return dots;
}

/** A band's bucket from its margins: bit 0 is the most significant. */
function bucketOf(dots: Float32Array, band: number): number {
  let bucket = 0;
  for (let bit = 0; bit < LSH_BITS; bit += 1) bucket = (bucket << 1) | (dots[band * LSH_BITS + bit]! >= 0 ? 1 : 0);
  return bucket;
}

/** The vector's bucket in each band (0 .. 2^LSH_BITS - 1), band 0 first. */
export function lshBuckets(vector: Float32Array): number[] {
  const dots = margins(vector);
  return Array.from({ length: LSH_BANDS }, (_, band) => bucketOf(dots, band));
}

/**
 * The buckets a search reads in each band, band 0 first: the vector's own bucket, then `probes`
 * buckets that each flip one of the band's bits, the smallest |margin| first.
 */
export function lshProbes(vector: Float32Array, probes = LSH_PROBES): number[][] {
  const dots = margins(vector);
  return Array.from({ length: LSH_BANDS }, (_, band) => {
    const own = bucketOf(dots, band);
    const leastConfident = Array.from({ length: LSH_BITS }, (_, bit) => bit)
      .sort((a, b) => Math.abs(dots[band * LSH_BITS + a]!) - Math.abs(dots[band * LSH_BITS + b]!))
      .slice(0, Math.max(0, Math.min(LSH_BITS, probes)));
    return [own, ...leastConfident.map((bit) => own ^ (1 << (LSH_BITS - 1 - bit)))];
  });
}
