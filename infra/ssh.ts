// Every remote step goes through one program, called like OpenSSH:
// `<INFRA_SSH> [options] root@<ip> <command>`, with the CLI's environment minus its credentials
// (HCLOUD_TOKEN, INFRA_ADMIN_TOKEN, INFRA_SECRET_*: the SSH program needs none of them). Tests
// stand a fake in for it; operators can point it at a wrapper (a bastion, a different key).
// The command is built with infra/shell.ts (`sh`); a secret or token never is part of it: it goes
// on the command's standard input.
import { spawn } from "node:child_process";

export type RemoteResult = { exitCode: number; stdout: string; stderr: string };

export type SshOptions = {
  /** The program (INFRA_SSH, default `ssh`). */
  program: string;
  /** The environment the program runs with: the CLI's own. */
  env: NodeJS.ProcessEnv;
  /** Kill a command that runs longer (a hung connection); default 10 minutes. */
  timeoutMs?: number;
};

/** OpenSSH options: never prompt (CI), trust a new host once, give up on a dead host quickly. */
export const SSH_OPTIONS = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15", "-o", "LogLevel=ERROR"];

/** Variables the SSH program never gets: credentials of the CLI's other work. */
export const withheldFromSsh = (name: string) => name === "HCLOUD_TOKEN" || name === "INFRA_ADMIN_TOKEN" || name.startsWith("INFRA_SECRET_");

/** The CLI's environment without its credentials, for the SSH program. */
export const sshEnvironment = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(env).filter(([name]) => !withheldFromSsh(name)));

export class RemoteCommandError extends Error {
  constructor(
    readonly host: string,
    /** The command as shown (it never holds a secret: those go on stdin). */
    readonly command: string,
    readonly result: RemoteResult,
  ) {
    super(`${host}: \`${command}\` exited ${result.exitCode}${result.stderr.trim() ? `: ${result.stderr.trim().split("\n").slice(-3).join(" / ")}` : ""}`);
    this.name = "RemoteCommandError";
  }
}

export class Ssh {
  /** Remote commands run, for the summary line. */
  commands = 0;

  constructor(private readonly options: SshOptions) {}

  /** Runs `command` on root@host; `stdin` is written to it and closed. Never throws on a non-zero exit. */
  run(host: string, command: string, stdin?: string): Promise<RemoteResult> {
    this.commands += 1;
    return new Promise((resolve, reject) => {
      const child = spawn(this.options.program, [...SSH_OPTIONS, `root@${host}`, command], { stdio: ["pipe", "pipe", "pipe"], env: sshEnvironment(this.options.env) });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      const timer = setTimeout(() => child.kill("SIGTERM"), this.options.timeoutMs ?? 600_000);
      child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
      child.on("error", (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot run the SSH program ${JSON.stringify(this.options.program)} (INFRA_SSH): ${error.message}`));
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ exitCode: code ?? (signal ? 255 : 1), stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") });
      });
      // A remote command that does not read stdin closes it early: EPIPE is not a failure.
      child.stdin.on("error", () => {});
      child.stdin.end(stdin ?? "");
    });
  }

  /** Runs `command` and answers its stdout; a non-zero exit throws RemoteCommandError. */
  async check(host: string, command: string, options: { stdin?: string } = {}): Promise<string> {
    const result = await this.run(host, command, options.stdin);
    if (result.exitCode !== 0) throw new RemoteCommandError(host, command, result);
    return result.stdout;
  }
}
