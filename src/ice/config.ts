import { isIP } from 'node:net';
import { z } from 'zod';
import { isTurn, parseIceUrl } from './ice-url.js';

/**
 * The `ice` block of the server configuration (src/config/schema.ts plugs it in). The default is host
 * candidates only: no STUN, no TURN, any port, ICE-TCP as libnice has it (on).
 */

const iceUrl = z.string().superRefine((s, ctx) => {
  try {
    parseIceUrl(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

const port = z.number().int().min(0).max(65535);

export const iceConfigSchema = z
  .object({
    servers: z
      .array(iceUrl)
      .default([])
      .describe('STUN/TURN servers for the server and every client: stun:host:port, turn:host:port?transport=udp|tcp, turns:host:port?transport=tcp'),
    turnSecret: z
      .string()
      .default('')
      .describe("TURN REST shared secret (coturn static-auth-secret): each session and client gets credentials valid turnCredentialTtlS"),
    turnUsername: z.string().default('').describe('static TURN username, when there is no turnSecret'),
    turnPassword: z.string().default('').describe('static TURN password, when there is no turnSecret'),
    turnCredentialTtlS: z
      .number()
      .int()
      .min(60)
      .max(7 * 24 * 3600)
      .default(3600)
      .describe('lifetime of minted TURN credentials (seconds); they must outlive the longest session'),
    serverUsesTurn: z
      .boolean()
      .default(true)
      .describe("the server's own ICE agent allocates TURN relays too (a server with no public address needs them)"),
    minPort: port.default(0).describe('lowest local UDP/TCP port for ICE (0 = any)'),
    maxPort: port.default(0).describe('highest local UDP/TCP port for ICE (0 = any)'),
    publicAddress: z
      .string()
      .refine((s) => s === '' || isIP(s) !== 0, 'an IPv4 or IPv6 address')
      .default('')
      .describe('1:1 NAT: the public address announced in place of the host candidates (empty = announce them as they are)'),
    tcp: z.boolean().default(true).describe('gather ICE-TCP candidates as well as UDP'),
    stunServer: z.string().default('').describe('legacy: stun://host:port for the server only (prefer servers)'),
    turnServers: z.array(z.string().min(1)).default([]).describe('legacy: turn://user:pass@host:port entries for the server only (prefer servers)'),
    localAddresses: z
      .array(z.string().min(1))
      .default([])
      .describe('restrict ICE to these local addresses (tests: 127.0.0.1); empty = all'),
  })
  .superRefine((c, ctx) => {
    if ((c.minPort === 0) !== (c.maxPort === 0)) {
      ctx.addIssue({ code: 'custom', path: ['maxPort'], message: 'set minPort and maxPort together (or neither)' });
    } else if (c.minPort > c.maxPort) {
      ctx.addIssue({ code: 'custom', path: ['maxPort'], message: `must be at least minPort (${c.minPort})` });
    } else if (c.minPort !== 0 && c.maxPort - c.minPort < 1) {
      // each session takes one port per candidate (two with ICE-TCP): a one-port range serves nobody
      ctx.addIssue({ code: 'custom', path: ['maxPort'], message: 'the range needs at least two ports' });
    }
    const turn = c.servers.some((s) => {
      try {
        return isTurn(parseIceUrl(s));
      } catch {
        return false;
      }
    });
    if (turn && c.turnSecret === '' && (c.turnUsername === '' || c.turnPassword === '')) {
      ctx.addIssue({ code: 'custom', path: ['turnSecret'], message: 'TURN servers need turnSecret (REST credentials) or turnUsername and turnPassword' });
    }
  });

export type IceSettings = z.infer<typeof iceConfigSchema>;
