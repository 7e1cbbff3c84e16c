import t from 'tap';
import { fileURLToPath } from 'node:url';
import { Pipeline } from '../../src/gst/index.js';
import type { Logger } from '../../src/logger.js';
import { LIVE_AUDIO_APPSRC, LIVE_OPUS_APPSRC, PUSH_PCM_CAPS, opusCaps } from '../../src/pipelines/pipeline-template.js';
import { LiveInput } from '../../src/sessions/live-input.js';
import { requirePlugin, testPluginEnv } from '../helpers/gst-probe.js';

requirePlugin();
Object.assign(process.env, testPluginEnv()); // before the addon loads (at the first launch)

/**
 * An interrupt drops every pushed sample not yet played: in the element and in the appsrc in front of it.
 * 15 s of loud tone is pushed at once (the element takes 10 s, the appsrc holds the rest); after the
 * interrupt, what the element outputs (measured by `level`) must be silence.
 */

const PORTRAIT = fileURLToPath(new URL('../../src/server/demo/media/portrait.jpg', import.meta.url));
const MIX = 'audio/x-raw,rate=16000,channels=1';
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

function tone(seconds: number): Buffer {
  const b = Buffer.alloc(seconds * 32000);
  for (let i = 0; i < seconds * 16000; i++) b.writeInt16LE(Math.round(12000 * Math.sin((2 * Math.PI * 440 * i) / 16000)), i * 2);
  return b;
}

t.test('interrupt: nothing of the audio pushed before it plays after it, appsrc backlog included', async (t) => {
  const p = await Pipeline.launch(
    [
      `appsrc name=${LIVE_AUDIO_APPSRC} is-live=true format=time do-timestamp=true caps="${PUSH_PCM_CAPS}" ! audioconvert ! audioresample ! ${MIX} ! live_mix.`,
      `appsrc name=${LIVE_OPUS_APPSRC} is-live=true format=time do-timestamp=true caps="${opusCaps(1)}" ! opusdec plc=true ! audioconvert ! audioresample ! ${MIX} ! live_mix.`,
      `funnel name=live_mix forward-sticky-events=true ! dittotalkinghead name=ditto mode=live backend=builtin source-image="${PORTRAIT}" frame-scale=0.25`,
      'ditto.video ! fakesink sync=true async=false',
      'ditto.audio ! level interval=100000000 post-messages=true ! fakesink sync=true async=false',
    ].join(' '),
  );
  t.teardown(() => p.close());
  const alive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(alive));
  const levels: { at: number; rms: number }[] = [];
  const interrupts: Record<string, unknown>[] = [];
  p.on('element', (m) => {
    const f = (m as unknown as { fields: Record<string, unknown> }).fields;
    if (m.name === 'level') levels.push({ at: Date.now(), rms: Math.max(...(f['rms'] as number[])) });
    if (m.name === 'ditto-interrupt') interrupts.push(f);
  });
  t.throws(() => p.element('ditto').emit('no-such-signal'), { code: 'GST_PROPERTY' }, 'elementEmit: an unknown signal is refused');
  t.throws(() => p.element('live_mix').emit('pad-added'), { code: 'GST_PROPERTY' }, 'elementEmit: not an action signal');
  const live = new LiveInput(p, quiet);
  await p.setState('playing');
  // In 100 ms buffers, as a client streams it: the element takes 10 s, then holds back the appsrc's thread.
  const chunk = tone(0.1);
  t.ok(Array.from({ length: 150 }, () => live.pushAudio(chunk)).every(Boolean), 'pushed');
  await new Promise((r) => setTimeout(r, 1000));
  t.ok(levels.some((l) => l.rms > -20), `the tone plays before: ${levels.map((l) => l.rms.toFixed(0)).join(' ')}`);
  const at = Date.now();
  live.interrupt();
  t.ok(Date.now() - at < 2000, 'interrupt returns promptly');
  await new Promise((r) => setTimeout(r, 2500));
  // Up to two frames already due may still play (80 ms), plus the level interval: skip 400 ms.
  const after = levels.filter((l) => l.at > at + 400);
  t.ok(after.length >= 10, `the stream goes on: ${after.length} level messages after the interrupt`);
  const loud = after.filter((l) => l.rms > -50);
  t.same(loud, [], 'only silence after the interrupt');
  t.ok(interrupts.length >= 1, 'the element reported the interrupt');
  const again = Date.now();
  t.ok(live.pushAudio(tone(1)), 'the input takes audio again');
  await new Promise((r) => setTimeout(r, 1500));
  t.ok(levels.some((l) => l.at > again && l.rms > -20), 'and plays it');
});
