// A small seeded PRNG, so a benchmark's traffic or faults can be reproduced with SEED: the same
// mulberry32 the D1 store draws its hyperplanes with.
export { seeded as prng } from "../../workers/vectorize/lsh.ts";
