// The queues keep working after a test file's last test: the intake consumer hands documents to
// the vectorize consumer, which indexes them and logs a line. A line logged while the file's
// environment is torn down fails the whole run ("Closing rpc while onUserConsoleLog was
// pending"). So each file ends only once nothing has logged for a moment: the consumers run
// within milliseconds of a message in the test pool (batch timeout 0), and a file whose last
// test left no work waits only QUIET_MS.
import { afterAll } from "vitest";

const QUIET_MS = 500;
const MAX_WAIT_MS = 5000;

let lastOutput = Date.now();
for (const method of ["log", "info", "warn", "error"] as const) {
  const original = console[method].bind(console);
  console[method] = (...args: unknown[]) => {
    lastOutput = Date.now();
    original(...args);
  };
}

afterAll(async () => {
  const until = Date.now() + MAX_WAIT_MS;
  while (Date.now() - lastOutput < QUIET_MS && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
});
