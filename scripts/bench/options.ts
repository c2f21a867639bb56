// The benchmarks' command lines: `--name value`, `--name=value`, or an environment variable of
// that name in upper case (so CI and a shell loop can set them); `--help`/`-h` prints the usage.
// A mistake exits 1 naming the option, before anything starts.

/** Prints `bench: <message>` and exits 1. */
export function failOption(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(1);
}

export type BenchOptions = {
  /** The raw value of an option (upper-case name): the command line's, else the environment's. */
  raw(name: string): string | undefined;
  /** A switch given on the command line (`--calibrate`), or its variable set to 1. */
  on(name: string): boolean;
  /** A number, `fallback` when absent or empty; exits naming the option when `valid` refuses it. */
  number(name: string, fallback: number, valid?: (value: number) => boolean, what?: string): number;
};

const nonNegativeInteger = (value: number) => Number.isInteger(value) && value >= 0;

/**
 * Reads argv against the names a bench takes (`values`: options with a value, `switches`:
 * without one), upper case.
 */
export function readBenchOptions(argv: readonly string[], spec: { usage: string; values: readonly string[]; switches?: readonly string[] }): BenchOptions {
  const switches = spec.switches ?? [];
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 1) {
    const match = /^--?([a-zA-Z]+)(?:=(.*))?$/.exec(argv[i]!);
    const name = match?.[1]?.toUpperCase();
    if (name === "H" || name === "HELP") {
      console.log(spec.usage);
      process.exit(0);
    }
    if (!match || !name || (!spec.values.includes(name) && !switches.includes(name))) failOption(`unexpected argument ${argv[i]}\n${spec.usage}`);
    if (switches.includes(name)) {
      flags[name] = "1";
      continue;
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined) failOption(`option ${argv[i - 1]} needs a value`);
    flags[name] = value;
  }
  const raw = (name: string) => flags[name] ?? process.env[name];
  return {
    raw,
    on: (name) => raw(name) === "1",
    number(name, fallback, valid = nonNegativeInteger, what = "a non-negative integer") {
      const text = raw(name);
      if (text === undefined || text === "") return fallback;
      const value = Number(text);
      if (!valid(value)) failOption(`${name} must be ${what}, got "${text}"`);
      return value;
    },
  };
}
