import t from 'tap';
import { createSocket } from 'node:dgram';
import { parseIceUrl } from '../../src/ice/ice-url.js';
import { probeTurn } from '../../src/ice/turn-probe.js';
import { mintTurnCredentials } from '../../src/ice/turn-rest.js';
import { Coturn, coturnAvailable } from '../helpers/coturn.js';

/** The start-up TURN check against Debian's coturn: right and wrong REST credentials, UDP and TCP, silence. */

if (!coturnAvailable()) {
  t.fail('coturn is missing: run `bash docker/setup.sh --test`');
  process.exit(1);
}

const SECRET = `probe-${Math.random().toString(36).slice(2)}`;
let turn: Coturn;
t.before(async () => {
  turn = await Coturn.start({ secret: SECRET });
});
t.teardown(() => turn?.stop());

t.test('the right secret allocates a relay (UDP and TCP) and gives it back', async (t) => {
  const c = mintTurnCredentials(SECRET, 'probe', 60);
  const udp = await probeTurn(parseIceUrl(turn.url), c.username, c.credential);
  t.match(udp, { ok: true, relayed: /^127\.0\.0\.1:\d+$/ });
  const tcp = await probeTurn(parseIceUrl(turn.tcpUrl), c.username, c.credential);
  t.match(tcp, { ok: true });
  t.match(turn.log(), /refresh/i, 'the allocation was refreshed to lifetime 0');
});

t.test('a wrong secret is a 401, expired credentials too', async (t) => {
  const wrong = mintTurnCredentials('not-it', 'probe', 60);
  t.match(await probeTurn(parseIceUrl(turn.url), wrong.username, wrong.credential), { ok: false, status: 401 });
  const expired = mintTurnCredentials(SECRET, 'probe', 60, Date.now() - 3600_000);
  t.match(await probeTurn(parseIceUrl(turn.url), expired.username, expired.credential), { ok: false, status: 401 });
});

t.test('nothing answering: a timeout, not a hang', async (t) => {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => sock.close());
  const port = sock.address().port; // bound and silent
  const r = await probeTurn(parseIceUrl(`turn:127.0.0.1:${port}`), 'u', 'p', 700);
  t.match(r, { ok: false, status: null, reason: /no answer within 700 ms/ });
});
