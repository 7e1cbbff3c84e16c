import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { ChromiumBrowser, CHROMIUM_PATH, chromiumAvailable, type ChromiumReceiver } from '../helpers/chromium.js';
import { repeatWav } from '../helpers/media-files.js';
import { offerPayload, testServer } from '../helpers/server-app.js';

/**
 * Adaptive bitrate through a real bottleneck: Chromium runs in a network namespace of its own, joined to the
 * server by a veth pair; `tc tbf` on the server's side caps what reaches the viewer. The video bitrate must
 * fall under the cap while it holds (frames keep decoding at full rate, audio and video stay in sync), and
 * recover when it is lifted. Needs root, iproute2 and Chromium; skipped otherwise.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

function canNetns(): boolean {
  if (process.getuid?.() !== 0 || !chromiumAvailable()) return false;
  try {
    sh('ip', '-V');
    sh('tc', '-V');
    return true;
  } catch {
    return false;
  }
}

const CAP_KBIT = 350;

t.test('video bitrate falls under a bandwidth cap and recovers when it lifts', { skip: !canNetns() && 'needs root, iproute2 and Chromium' }, async (t) => {
  const tag = randomInt(0x10000, 0xfffff).toString(16);
  const ns = `dgabr${tag}`;
  const hostIf = `dga${tag}`;
  const nsIf = `dgb${tag}`;
  const net = randomInt(16, 250);
  const hostIp = `10.213.${net}.1`;
  const nsIp = `10.213.${net}.2`;
  sh('ip', 'netns', 'add', ns);
  t.teardown(() => {
    try {
      sh('ip', 'link', 'del', hostIf);
    } catch {
      /* gone with the namespace */
    }
    sh('ip', 'netns', 'del', ns);
  });
  sh('ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
  sh('ip', 'link', 'set', nsIf, 'netns', ns);
  sh('ip', 'addr', 'add', `${hostIp}/30`, 'dev', hostIf);
  sh('ip', 'link', 'set', hostIf, 'up');
  sh('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', nsIf);
  sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', nsIf, 'up');
  sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');

  const dir = mkdtempSync(join(tmpdir(), 'ditto-abr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wrapper = join(dir, 'chromium-in-netns');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM_PATH} "$@"\n`);
  chmodSync(wrapper, 0o755);

  const s = await testServer({ DITTO_ICE_LOCAL_ADDRESSES: hostIp, DITTO_BITRATE_MIN_KBPS: '100', DITTO_BITRATE_MAX_KBPS: '2000' });
  t.teardown(() => s.cleanup());
  const browser = await ChromiumBrowser.launch({ executablePath: wrapper });
  t.teardown(() => browser.close());
  const rx: ChromiumReceiver = await browser.newReceiver();
  writeFileSync(join(s.mediaDir, 'long.wav'), repeatWav(readFileSync(join(s.mediaDir, 'speech.wav')), 6)); // 74 s of speech
  const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(await rx.createOffer(), { audio_path: 'long.wav' }) });
  t.equal(r.statusCode, 200, r.body);
  await rx.acceptAnswer(r.json().sdp);
  const id = r.json().session_id as string;
  await rx.waitFor((st) => (st.video?.framesDecoded ?? 0) > 10, { timeoutMs: 20000 });

  const detail = async () => (await s.app.inject(`/webrtc/sessions/${id}`)).json();
  const sample = async (label: string, seconds: number) => {
    const out: { target: number; sent: number | null; reason: string }[] = [];
    for (let i = 0; i < seconds; i++) {
      await sleep(1000);
      const d = await detail();
      out.push({ target: d.adaptive_bitrate.target_bps, sent: d.adaptive_bitrate.sent_bps, reason: d.adaptive_bitrate.last_reason });
    }
    t.comment(`${label}: ${out.map((o) => `${Math.round(o.target / 1000)}/${o.sent === null ? '-' : Math.round(o.sent / 1000)}${o.reason[0]}`).join(' ')} (target/sent kbit/s, reason)`);
    return out;
  };
  // from the template's rate (whatever it is) up to well above the cap on the free link
  let free = await sample('uncapped', 4);
  for (let i = 0; i < 3 && free.at(-1)!.target < CAP_KBIT * 1000 * 1.6; i++) free = await sample('uncapped', 4);
  t.ok(free.at(-1)!.target >= CAP_KBIT * 1000 * 1.6, 'runs well above the cap before it');

  sh('tc', 'qdisc', 'add', 'dev', hostIf, 'root', 'tbf', 'rate', `${CAP_KBIT}kbit`, 'burst', '10kb', 'latency', '150ms');
  const capped = await sample('capped', 14);
  const settled = capped.slice(-5);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  t.ok(mean(settled.map((o) => o.target)) <= CAP_KBIT * 1000, 'the target falls under the cap');
  t.ok(mean(settled.map((o) => o.sent ?? Infinity)) <= CAP_KBIT * 1000, 'what is sent fits the cap');
  // Two windows, the better counts: a loss at the cap's onset can freeze the picture until a key frame gets
  // through (no NACK/RTX yet, and a 500 kbit/s key frame overflows this 150 ms tbf queue): seen once in CI as
  // 0.3 fps over 3 s with the target already under the cap. Adaptation that fails keeps both windows low.
  const fpsWindows = [await rx.measureFps(3000), await rx.measureFps(3000)];
  const fps = Math.max(...fpsWindows);
  t.ok(fps >= 20, `frames keep decoding under the cap (${fpsWindows.map((f) => f.toFixed(1)).join(', ')} fps)`);
  const st = await rx.stats();
  const v = st.video?.estimatedPlayoutTimestamp;
  const a = st.audio?.estimatedPlayoutTimestamp;
  if (v && a) t.ok(Math.abs(v - a) < 200, `audio and video play out together (${Math.round(v - a)} ms)`);

  sh('tc', 'qdisc', 'del', 'dev', hostIf, 'root');
  const lifted = await sample('lifted', 25);
  t.ok(Math.max(...lifted.slice(-5).map((o) => o.target)) >= CAP_KBIT * 1000 * 1.6, 'the target recovers when the cap lifts');
  t.ok(Math.max(...lifted.slice(-5).map((o) => o.sent ?? 0)) > CAP_KBIT * 1000, 'and more than the old cap gets through');
  t.ok(lifted.some((o) => o.reason === 'increase'));
});
