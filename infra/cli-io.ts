// What the repository's Node CLIs (`npm run infra`, `npm run secrets`) share: where they write
// (tests pass their own), usage errors, and running `main` only when the file is the entry point.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * `interactive`: a person at a terminal may be asked (infra destroy); unset means never ask.
 * `outIsTerminal`: `out` reaches a terminal; a command that prints credentials (infra
 * backup-targets) writes them only when this is false, so unset counts as a terminal.
 */
export type Io = { out: (line: string) => void; err: (line: string) => void; interactive?: boolean; outIsTerminal?: boolean };

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  interactive: process.stdin.isTTY === true,
  outIsTerminal: process.stdout.isTTY === true,
};

/** A mistake in the command line: printed with the usage text. */
export class UsageError extends Error {}

/** Runs `main` with the process's arguments when `moduleUrl` is the script Node was started with. */
export async function runIfEntryPoint(moduleUrl: string, main: (argv: string[]) => Promise<number>): Promise<void> {
  if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(moduleUrl)) process.exitCode = await main(process.argv.slice(2));
}
