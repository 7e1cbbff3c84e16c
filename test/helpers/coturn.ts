/**
 * Debian's coturn (`turnserver`) as a real TURN relay for tests: on 127.0.0.1 with a random port, TURN REST
 * credentials (use-auth-secret + static-auth-secret), no TLS/DTLS, loopback peers allowed (coturn refuses
 * relaying to 127.x otherwise), no CLI, its user DB and log in a temp dir. Ready once it answers a STUN
 * binding request on its port.
 *
 *   const turn = await Coturn.start({ secret: 'k' });
 *   turn.url            // "turn:127.0.0.1:PORT?transport=udp"
 *   await turn.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TURNSERVER = process.env['TURNSERVER_PATH'] ?? '/usr/bin/turnserver';

export function coturnAvailable(): boolean {
  return spawnSync(TURNSERVER, ['--help'], { stdio: 'ignore' }).error === undefined;
}

export interface CoturnOptions {
  secret: string;
  realm?: string;
  startTimeoutMs?: number;
}

/** A port free for TCP right now (coturn listens on UDP and TCP at the same number). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** One STUN binding request (RFC 5389) to 127.0.0.1:port; true when a binding success comes back. */
function stunBinding(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const tid = randomBytes(12);
    const req = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), tid]);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on('message', (msg) => {
      if (msg.length >= 20 && msg.readUInt16BE(0) === 0x0101 && msg.subarray(8, 20).equals(tid)) done(true);
    });
    sock.on('error', () => done(false));
    sock.send(req, port, '127.0.0.1');
  });
}

export class Coturn {
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly secret: string,
    readonly realm: string,
    private readonly dir: string,
  ) {
    child.once('exit', () => {
      this.exited = true;
    });
  }

  /** The RFC 7065 URL over UDP (the form the server config and browsers take). */
  get url(): string {
    return `turn:127.0.0.1:${this.port}?transport=udp`;
  }

  get tcpUrl(): string {
    return `turn:127.0.0.1:${this.port}?transport=tcp`;
  }

  /** coturn's own log (allocations, 401s), for test diagnostics. */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'turn.log'), 'utf8');
    } catch {
      return '';
    }
  }

  static async start(options: CoturnOptions): Promise<Coturn> {
    const realm = options.realm ?? 'ditto.test';
    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    let lastError = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      const dir = mkdtempSync(join(tmpdir(), 'ditto-coturn-'));
      const port = await freePort();
      // Relay ports from a random slice of the ephemeral range, so parallel test files rarely collide.
      const minRelay = 50000 + randomInt(0, 140) * 100;
      const child = spawn(
        TURNSERVER,
        [
          '-n', // no config file
          '--listening-ip=127.0.0.1',
          '--relay-ip=127.0.0.1',
          `--listening-port=${port}`,
          `--min-port=${minRelay}`,
          `--max-port=${minRelay + 99}`,
          '--use-auth-secret',
          `--static-auth-secret=${options.secret}`,
          `--realm=${realm}`,
          '--no-tls',
          '--no-dtls',
          '--allow-loopback-peers',
          '--no-cli',
          '--no-multicast-peers',
          `--userdb=${join(dir, 'turndb')}`,
          `--log-file=${join(dir, 'turn.log')}`,
          '--simple-log',
          `--pidfile=${join(dir, 'turnserver.pid')}`,
          '--verbose',
        ],
        { stdio: 'ignore' },
      );
      const turn = new Coturn(child, port, options.secret, realm, dir);
      while (Date.now() < deadline && !turn.exited) {
        if (await stunBinding(port, 200)) return turn;
      }
      lastError = turn.exited ? `turnserver exited at start: ${turn.log().slice(-600)}` : 'turnserver did not answer STUN in time';
      await turn.stop();
      if (Date.now() >= deadline) break;
    }
    throw new Error(`could not start coturn: ${lastError}`);
  }

  async stop(): Promise<void> {
    if (!this.exited) {
      const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
