// Fake origins for edge routing: plain node:http servers on 127.0.0.1, as the Swarm's Traefik
// looks to the Worker (the vendor here is HTTP itself, and RFC 6455 for WebSockets). A test makes
// origins of its own through the control server and switches each one:
//   POST /__fake/origins                 -> {id, url}: a new origin on an ephemeral port
//   POST /__fake/origins/<id> {mode, status?, delayMs?}
//        ok    200 JSON {origin, method, path, body} (any path; the health path too)
//        fail  `status` (default 502, Traefik's answer when its backend is gone) with a text body
//        slow  the ok answer after `delayMs` (default 10 s): a timeout for the Worker
//        down  not listening at all (connection refused); any other mode listens again on its port
//   GET  /__fake/origins/<id>/requests   -> every request it received, oldest first: method,
//        path, host, the X-Forwarded-* headers, edge-ops-via, user-agent, body, upgrade, and
//        bodyComplete: a request is recorded when its headers arrive and its body grows chunk by
//        chunk, so a test can see the first part of a body reach the origin before the client
//        has sent the rest (the Worker streams, not buffers)
// A request carrying `Upgrade: websocket` is answered as an echo server in ok mode (refused
// otherwise): the RFC 6455 opening handshake (§4.2.2: Sec-WebSocket-Accept is base64 of the SHA-1
// of the key and 258EAFA5-E914-47DA-95CA-C5AB0DC85B11; no extension or subprotocol accepted) and
// frames (§5.2: masked from the client, unmasked from the server; 7-bit, 16-bit and 64-bit
// lengths); data frames are echoed as they came (opcode, FIN), a ping answered with a pong, a
// close with a close (§5.5). Checked against RFC 6455 (December 2011) and Node's http 'upgrade'
// event (Node 24 docs, http.Server 'upgrade'), 2026-12-06. No dependency: `ws` is only a
// transitive package here.
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { startFake, type RunningFake } from "./http-fake.ts";

type Mode = "ok" | "fail" | "slow" | "down";

export type OriginRequestRecord = {
  method: string;
  path: string;
  host: string | null;
  forwardedHost: string | null;
  forwardedProto: string | null;
  forwardedFor: string | null;
  via: string | null;
  userAgent: string | null;
  body: string;
  upgrade: boolean;
  bodyComplete: boolean;
};

type Origin = {
  id: string;
  port: number;
  server: Server;
  sockets: Set<Socket>;
  mode: Mode;
  status: number;
  delayMs: number;
  requests: OriginRequestRecord[];
};

const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const header = (request: IncomingMessage, name: string): string | null => {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(", ") : (value ?? null);
};

function record(request: IncomingMessage, body: string, upgrade: boolean): OriginRequestRecord {
  return {
    method: request.method ?? "GET",
    path: request.url ?? "/",
    host: header(request, "host"),
    forwardedHost: header(request, "x-forwarded-host"),
    forwardedProto: header(request, "x-forwarded-proto"),
    forwardedFor: header(request, "x-forwarded-for"),
    via: header(request, "edge-ops-via"),
    userAgent: header(request, "user-agent"),
    body,
    upgrade,
    bodyComplete: upgrade,
  };
}

/** A server frame (never masked). */
function frame(fin: boolean, opcode: number, payload: Buffer): Buffer {
  const first = (fin ? 0x80 : 0) | opcode;
  if (payload.length < 126) return Buffer.concat([Buffer.from([first, payload.length]), payload]);
  if (payload.length < 65_536) {
    const head = Buffer.alloc(4);
    head[0] = first;
    head[1] = 126;
    head.writeUInt16BE(payload.length, 2);
    return Buffer.concat([head, payload]);
  }
  const head = Buffer.alloc(10);
  head[0] = first;
  head[1] = 127;
  head.writeBigUInt64BE(BigInt(payload.length), 2);
  return Buffer.concat([head, payload]);
}

/** Echoes the client's frames on `socket` until it closes. */
function echoFrames(socket: Socket, head: Buffer): void {
  let buffered = head;
  const consume = () => {
    for (;;) {
      if (buffered.length < 2) return;
      const fin = (buffered[0]! & 0x80) !== 0;
      const opcode = buffered[0]! & 0x0f;
      const masked = (buffered[1]! & 0x80) !== 0;
      let length = buffered[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffered.length < 4) return;
        length = buffered.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffered.length < 10) return;
        length = Number(buffered.readBigUInt64BE(2));
        offset = 10;
      }
      const maskAt = offset;
      if (masked) offset += 4;
      if (buffered.length < offset + length) return;
      const payload = Buffer.from(buffered.subarray(offset, offset + length));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= buffered[maskAt + (i % 4)]!;
      buffered = buffered.subarray(offset + length);
      if (opcode === 0x8) {
        socket.end(frame(true, 0x8, payload));
        return;
      }
      if (opcode === 0x9) socket.write(frame(true, 0xa, payload));
      else if (opcode <= 0x2) socket.write(frame(fin, opcode, payload));
    }
  };
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    consume();
  });
  socket.on("error", () => socket.destroy());
  consume();
}

/** Reads the body into `entry` as it arrives (entry.body grows with each chunk). */
async function readInto(request: IncomingMessage, entry: OriginRequestRecord): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
    entry.body = Buffer.concat(chunks).toString("utf8");
  }
  entry.bodyComplete = true;
  return entry.body;
}

function listen(origin: Origin, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    origin.server.once("error", reject);
    origin.server.listen(port, "127.0.0.1", () => {
      origin.server.off("error", reject);
      resolve((origin.server.address() as AddressInfo).port);
    });
  });
}

async function createOrigin(id: string): Promise<Origin> {
  const origin: Origin = { id, port: 0, server: createServer(), sockets: new Set(), mode: "ok", status: 502, delayMs: 10_000, requests: [] };
  origin.server.on("connection", (socket: Socket) => {
    origin.sockets.add(socket);
    socket.on("close", () => origin.sockets.delete(socket));
  });
  origin.server.on("request", (request, response) => {
    void (async () => {
      const entry = record(request, "", false);
      origin.requests.push(entry);
      const body = await readInto(request, entry);
      if (origin.mode === "fail") {
        response.writeHead(origin.status, { "content-type": "text/plain; charset=utf-8" });
        response.end("Bad Gateway");
        return;
      }
      // An unref'd timer: a slow answer never keeps the test process alive.
      if (origin.mode === "slow") await new Promise((resolve) => setTimeout(resolve, origin.delayMs).unref());
      if (response.destroyed) return;
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ origin: id, method: request.method, path: request.url, body }));
    })().catch(() => response.destroy());
  });
  origin.server.on("upgrade", (request: IncomingMessage, socket: Socket, head: Buffer) => {
    origin.requests.push(record(request, "", true));
    const key = header(request, "sec-websocket-key");
    if (origin.mode !== "ok" || header(request, "upgrade")?.toLowerCase() !== "websocket" || !key) {
      socket.end("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    const accept = createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    echoFrames(socket, head);
  });
  origin.port = await listen(origin, 0);
  origin.server.unref();
  return origin;
}

async function setMode(origin: Origin, mode: Mode): Promise<void> {
  if (mode === "down" && origin.mode !== "down") {
    origin.mode = "down";
    await new Promise<void>((resolve) => {
      origin.server.close(() => resolve());
      for (const socket of origin.sockets) socket.destroy();
    });
    return;
  }
  if (mode !== "down" && origin.mode === "down") {
    await listen(origin, origin.port);
    origin.server.unref();
  }
  origin.mode = mode;
}

export async function startFakeOrigins(port = 0): Promise<RunningFake> {
  const origins = new Map<string, Origin>();
  let made = 0;
  const fake = await startFake(async (request) => {
    const path = request.url.pathname;
    if (path === "/__fake/origins" && request.method === "POST") {
      const origin = await createOrigin(`origin-${++made}`);
      origins.set(origin.id, origin);
      return { status: 201, body: { id: origin.id, url: `http://127.0.0.1:${origin.port}` } };
    }
    const match = /^\/__fake\/origins\/([\w-]+)(\/requests)?$/.exec(path);
    const origin = match ? origins.get(match[1]!) : undefined;
    if (!match || !origin) return { status: 404, body: { error: "no such origin" } };
    if (match[2] && request.method === "GET") return { status: 200, body: origin.requests };
    if (!match[2] && request.method === "POST") {
      const { mode, status, delayMs } = (request.body ?? {}) as { mode?: Mode; status?: number; delayMs?: number };
      if (!mode || !["ok", "fail", "slow", "down"].includes(mode)) return { status: 400, body: { error: "mode must be ok, fail, slow or down" } };
      if (status !== undefined) origin.status = status;
      if (delayMs !== undefined) origin.delayMs = delayMs;
      await setMode(origin, mode);
      return { status: 204 };
    }
    return { status: 405, body: { error: "method not allowed" } };
  }, port);
  return {
    url: fake.url,
    close: async () => {
      for (const origin of origins.values()) if (origin.mode !== "down") await setMode(origin, "down");
      await fake.close();
    },
  };
}
