// The one way a value reaches a remote shell. Every command the CLI sends over SSH is built with
// `sh` (a tagged template that quotes each interpolated value as one shell word), and the values an
// environment file can put into a command are also held at load to the patterns below
// (infra/config.ts), so a bad one is refused there, naming its field, before anything runs. Secrets
// and tokens never go through here: they travel on the remote command's standard input.

/** Strict patterns for what the environment file and the stack files may put into a command. */
export const SHELL_SAFE = {
  /** Docker and Hetzner names, label values, stack names: letters, digits, `.`, `_`, `-`. */
  name: /^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/,
  /** An absolute host path of letters, digits, `.`, `_`, `-` and `/` (never `/` alone, never `..`). */
  path: /^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/,
  /** A stack variable: written into stack files (Traefik rules, bind-mount sources that `deploy` creates). */
  variable: /^[A-Za-z0-9@%+=:,./_-]*$/,
} as const;

export const SHELL_SAFE_MESSAGES = {
  name: "must be letters, digits, . _ and - (it is used in commands on the nodes)",
  path: "must be an absolute path of letters, digits, . _ - and / (not / itself, no ..): it is used in commands on the nodes",
  variable: "must be letters, digits and @ % + = : , . / _ - only: it is written into stack files and may reach a shell on the nodes (no quotes, spaces, $, ;, backticks or newlines)",
} as const;

/** Whether `path` fits SHELL_SAFE.path and has no `..` segment. */
export const isSafePath = (path: string) => SHELL_SAFE.path.test(path) && !path.split("/").includes("..");

/** Characters a POSIX shell reads as themselves anywhere in a word. */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** `value` in single quotes, whatever it holds (a quote inside becomes '\''). */
export const quoted = (value: string | number) => `'${String(value).replaceAll("'", "'\\''")}'`;

/** `value` as one shell word: unchanged when it needs no quoting, else in single quotes. */
export function shellWord(value: string | number): string {
  const text = String(value);
  return PLAIN_WORD.test(text) ? text : quoted(text);
}

/** Text that is already shell syntax (a fixed option such as `--format '{{json .}}'`), kept as it is. */
export class ShellSyntax {
  constructor(readonly text: string) {}
}
export const raw = (text: string) => new ShellSyntax(text);

type ShellValue = string | number | ShellSyntax | readonly (string | number)[];

/**
 * A command line whose interpolated values are each one quoted word (an array: one word per item).
 *   sh`mkdir -p ${directories}` → mkdir -p /mnt/data/a '/mnt/data/b c'
 */
export function sh(strings: TemplateStringsArray, ...values: ShellValue[]): string {
  let command = strings[0] ?? "";
  values.forEach((value, index) => {
    const words = value instanceof ShellSyntax ? value.text : typeof value === "string" || typeof value === "number" ? shellWord(value) : value.map(shellWord).join(" ");
    command += words + (strings[index + 1] ?? "");
  });
  return command;
}
