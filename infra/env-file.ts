// `KEY=VALUE` files (secrets/<env>/<app>.env): comments, blank lines, optional `export`, single or
// double quotes. A file git-crypt has not decrypted is refused: its bytes would become "values".
import { readFileSync } from "node:fs";

/** git-crypt's header on an encrypted file: NUL, "GITCRYPT", NUL. */
const GIT_CRYPT_HEADER = Buffer.from("\0GITCRYPT\0", "latin1");

export class EnvFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnvFileError";
  }
}

export const isGitCryptEncrypted = (bytes: Uint8Array) => Buffer.from(bytes.subarray(0, GIT_CRYPT_HEADER.length)).equals(GIT_CRYPT_HEADER);

/** Parses the text; errors name the line, never its value. */
export function parseEnvText(text: string, source: string): Map<string, string> {
  const values = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new EnvFileError(`${source}:${index + 1}: expected KEY=VALUE`);
    const [, key, rest] = match as unknown as [string, string, string];
    let value = rest;
    const quote = value[0];
    if (quote === '"' || quote === "'") {
      const end = value.lastIndexOf(quote);
      if (end === 0) throw new EnvFileError(`${source}:${index + 1}: ${key} has an unterminated quote`);
      value = value.slice(1, end);
      if (quote === '"') value = value.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    } else {
      value = value.replace(/\s+#.*$/, "").trim();
    }
    if (values.has(key)) throw new EnvFileError(`${source}:${index + 1}: ${key} is set twice`);
    values.set(key, value);
  });
  return values;
}

/** Reads and parses a file; null when it does not exist. */
export function readEnvFile(path: string): Map<string, string> | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  if (isGitCryptEncrypted(bytes)) throw new EnvFileError(`${path} is still encrypted by git-crypt: run \`git-crypt unlock\` first`);
  return parseEnvText(bytes.toString("utf8"), path);
}
