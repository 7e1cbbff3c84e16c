import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { IceUrl } from './ice-url.js';

/**
 * Can these credentials allocate a relay on this TURN server? One TURN Allocate (RFC 5766) with long-term
 * credentials (RFC 5389 §10.2: the 401 challenge gives realm and nonce, the second request carries
 * MESSAGE-INTEGRITY), released at once with a zero-lifetime Refresh. The server runs it for every configured
 * TURN server when it starts listening, so a wrong shared secret or an unreachable TURN server is one clear log
 * line instead of viewers stuck in "connecting".
 */

export type TurnProbeResult =
  | { ok: true; relayed: string | null }
  | { ok: false; status: number | null; reason: string };

const COOKIE = 0x2112a442;
const ALLOCATE = 0x0003;
const REFRESH = 0x0004;
const ATTR = { USERNAME: 0x0006, MESSAGE_INTEGRITY: 0x0008, ERROR_CODE: 0x0009, LIFETIME: 0x000d, REALM: 0x0014, NONCE: 0x0015, XOR_RELAYED_ADDRESS: 0x0016, REQUESTED_TRANSPORT: 0x0019 } as const;

interface Attr {
  type: number;
  value: Buffer;
}

function attr(type: number, value: Buffer): Attr {
  return { type, value };
}

function encode(method: number, tid: Buffer, attrs: Attr[], key: Buffer | null): Buffer {
  const body = Buffer.concat(
    attrs.map((a) => {
      const pad = (4 - (a.value.length % 4)) % 4;
      const h = Buffer.alloc(4);
      h.writeUInt16BE(a.type, 0);
      h.writeUInt16BE(a.value.length, 2);
      return Buffer.concat([h, a.value, Buffer.alloc(pad)]);
    }),
  );
  const header = Buffer.alloc(20);
  header.writeUInt16BE(method, 0);
  header.writeUInt32BE(COOKIE, 4);
  tid.copy(header, 8);
  if (!key) {
    header.writeUInt16BE(body.length, 2);
    return Buffer.concat([header, body]);
  }
  // MESSAGE-INTEGRITY covers the message with its length already counting the MI attribute (24 bytes).
  header.writeUInt16BE(body.length + 24, 2);
  const mac = createHmac('sha1', key).update(Buffer.concat([header, body])).digest();
  const mi = Buffer.alloc(4);
  mi.writeUInt16BE(ATTR.MESSAGE_INTEGRITY, 0);
  mi.writeUInt16BE(20, 2);
  return Buffer.concat([header, body, mi, mac]);
}

function decode(msg: Buffer): { type: number; tid: Buffer; attrs: Map<number, Buffer> } | null {
  if (msg.length < 20 || msg.readUInt32BE(4) !== COOKIE) return null;
  const len = msg.readUInt16BE(2);
  const attrs = new Map<number, Buffer>();
  for (let o = 20; o + 4 <= 20 + len && o + 4 <= msg.length; ) {
    const type = msg.readUInt16BE(o);
    const l = msg.readUInt16BE(o + 2);
    if (!attrs.has(type)) attrs.set(type, msg.subarray(o + 4, o + 4 + l));
    o += 4 + l + ((4 - (l % 4)) % 4);
  }
  return { type: msg.readUInt16BE(0), tid: msg.subarray(8, 20), attrs };
}

function errorOf(attrs: Map<number, Buffer>): { status: number; reason: string } | null {
  const e = attrs.get(ATTR.ERROR_CODE);
  if (!e || e.length < 4) return null;
  return { status: (e[2]! & 0x7) * 100 + e[3]!, reason: e.subarray(4).toString('utf8') };
}

function relayedAddress(attrs: Map<number, Buffer>): string | null {
  const v = attrs.get(ATTR.XOR_RELAYED_ADDRESS);
  if (!v || v.length < 8 || v[1] !== 0x01) return null; // IPv4 only, enough for a log line
  const port = v.readUInt16BE(2) ^ (COOKIE >>> 16);
  const ip = (v.readUInt32BE(4) ^ COOKIE) >>> 0;
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}:${port}`;
}

/** One request/answer exchange over UDP, TCP or TLS; rejects on timeout. */
interface Channel {
  request(msg: Buffer, tid: Buffer): Promise<Buffer>;
  close(): void;
}

function udpChannel(host: string, port: number, timeoutMs: number): Channel {
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  return {
    request(msg, tid) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        const resend = setInterval(() => sock.send(msg, port, host), 500);
        const onMessage = (m: Buffer) => {
          if (m.length >= 20 && m.subarray(8, 20).equals(tid)) done(null, m);
        };
        const done = (err: Error | null, m?: Buffer) => {
          clearTimeout(timer);
          clearInterval(resend);
          sock.off('message', onMessage);
          if (err) reject(err);
          else resolve(m!);
        };
        sock.on('message', onMessage);
        sock.once('error', (e) => done(e));
        sock.send(msg, port, host);
      });
    },
    close: () => sock.close(),
  };
}

function streamChannel(open: () => Socket, timeoutMs: number): Channel {
  const sock = open();
  sock.on('error', () => {}); // reported through the pending request
  let buf = Buffer.alloc(0);
  let waiting: ((m: Buffer | Error) => void) | null = null;
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (buf.length >= 20 && buf.length >= 20 + buf.readUInt16BE(2)) {
      const m = buf.subarray(0, 20 + buf.readUInt16BE(2));
      buf = buf.subarray(m.length);
      waiting?.(m);
    }
  });
  sock.on('close', () => waiting?.(new Error('the TURN server closed the connection')));
  return {
    request(msg) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => settle(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        const settle = (m: Buffer | Error) => {
          clearTimeout(timer);
          waiting = null;
          if (m instanceof Error) reject(m);
          else resolve(m);
        };
        waiting = settle;
        sock.once('error', (e) => settle(e));
        sock.write(msg);
      });
    },
    close: () => sock.destroy(),
  };
}

export async function probeTurn(url: IceUrl, username: string, credential: string, timeoutMs = 3000): Promise<TurnProbeResult> {
  const host = url.host.replace(/^\[|\]$/g, '');
  const channel =
    url.scheme === 'turns'
      ? streamChannel(() => tlsConnect({ host, port: url.port, servername: host }), timeoutMs)
      : url.transport === 'tcp'
        ? streamChannel(() => tcpConnect({ host, port: url.port }), timeoutMs)
        : udpChannel(host, url.port, timeoutMs);
  const transport = attr(ATTR.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0]));
  try {
    const tid1 = randomBytes(12);
    const first = decode(await channel.request(encode(ALLOCATE, tid1, [transport], null), tid1));
    if (!first) return { ok: false, status: null, reason: 'the answer is not STUN' };
    const challenge = errorOf(first.attrs);
    if (challenge?.status !== 401) return { ok: false, status: challenge?.status ?? null, reason: challenge ? challenge.reason : 'allocated without credentials' };
    const realm = first.attrs.get(ATTR.REALM);
    const nonce = first.attrs.get(ATTR.NONCE);
    if (!realm || !nonce) return { ok: false, status: 401, reason: 'the 401 challenge has no realm or nonce' };
    const key = createHash('md5').update(`${username}:${realm.toString('utf8')}:${credential}`).digest();
    const auth = [attr(ATTR.USERNAME, Buffer.from(username)), attr(ATTR.REALM, realm), attr(ATTR.NONCE, nonce)];
    const tid2 = randomBytes(12);
    const second = decode(await channel.request(encode(ALLOCATE, tid2, [transport, ...auth], key), tid2));
    if (!second) return { ok: false, status: null, reason: 'the answer is not STUN' };
    const refused = errorOf(second.attrs);
    if (refused) return { ok: false, status: refused.status, reason: refused.reason };
    const relayed = relayedAddress(second.attrs);
    // Give the relay back at once (lifetime 0) rather than holding it for the default 10 minutes.
    const tid3 = randomBytes(12);
    await channel.request(encode(REFRESH, tid3, [attr(ATTR.LIFETIME, Buffer.alloc(4)), ...auth], key), tid3).catch(() => {});
    return { ok: true, relayed };
  } catch (e) {
    return { ok: false, status: null, reason: (e as Error).message };
  } finally {
    channel.close();
  }
}
