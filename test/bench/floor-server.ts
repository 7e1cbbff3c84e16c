/**
 * The benchmark's floor: the same session graph as the server builds (same template, same element, same
 * encoders, same webrtcbin), answered by a bare node:http handler straight on the addon — no Fastify, no
 * validation, no session manager, no stats. What the real server costs above this is our controller.
 *
 *   node dist/test/bench/floor-server.js <port>      POST /offer {sdp} -> {sdp, id}; DELETE /offer/<id>
 *
 * Env: FLOOR_GRAPH=bare replaces the element by live test sources (videotestsrc + audiotestsrc) in front of
 * the same encoders: the bare webrtcbin graph that costs and lip-sync figures are compared with.
 * FLOOR_AUDIO names the clip (default speech.wav);
 * FLOOR_START=playing plays at once instead of when ICE connects (the old start, for before/after figures).
 * Variants for bisecting Chrome's lip sync (test/bench/sync-probe.ts): FLOOR_GRAPH=bare-file (test video, the
 * clip's audio paced by identity sync), ditto-livesrc (the element behind a live audiotestsrc instead of the
 * file); FLOOR_VIDEO_HOLD_MS sends video that long after its audio (default: pipelines.videoHoldMs);
 * FLOOR_OPUS="element ..." inserts elements after opusenc; FLOOR_OPUS_FS sets opusenc's frame-size.
 * FLOOR_DEBUG=1 prints each graph.
 */
import { createServer } from 'node:http';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { Pipeline } from '../../src/gst/index.js';
import { loadTemplate, renderTemplate } from '../../src/pipelines/pipeline-template.js';
import { parseOffer, selectCodecs } from '../../src/offers/sdp-offer.js';

const config = loadConfig({ env: process.env as Record<string, string> });
process.env['GST_PLUGIN_PATH'] = [config.pluginPath, process.env['GST_PLUGIN_PATH']].filter(Boolean).join(':');
const media = config.media.dirs[0]!;
const templates = new Map([
  ['VP8', loadTemplate(join(config.pipelines.dir, config.pipelines.vp8))],
  ['H264', loadTemplate(join(config.pipelines.dir, config.pipelines.h264))],
] as const);
const pipelines = new Map<string, Pipeline>();

async function answer(offer: string): Promise<{ sdp: string; id: string }> {
  const codecs = selectCodecs(parseOffer(offer), ['VP8', 'H264']);
  const description = renderTemplate(templates.get(codecs.video.codec)!, {
    audio_source: 'file',
    audio_path: join(media, process.env['FLOOR_AUDIO'] ?? 'speech.wav'),
    source_image: join(media, 'portrait.jpg'),
    frame_scale: 1,
    sampling_timesteps: config.element.samplingTimesteps,
    chunk_config: config.element.chunkConfig as [number, number, number],
    chunk_sleep: 0,
    backend: 'builtin',
    video_pt: codecs.video.pt,
    audio_pt: codecs.audio.pt,
    video_ssrc: randomInt(1, 0x7fffffff),
    audio_ssrc: randomInt(0x7fffffff, 0xffffffff),
    webrtc_latency: config.pipelines.webrtcLatencyMs,
    video_hold_ms: Number(process.env['FLOOR_VIDEO_HOLD_MS'] ?? config.pipelines.videoHoldMs),
    h264_profile_level_id: codecs.video.profileLevelId,
  });
  const id = String(randomInt(1, 2 ** 47));
  const kind = process.env['FLOOR_GRAPH'] ?? 'ditto';
  let graph = description;
  if (kind.startsWith('bare')) {
    graph = graph
        .replace(/^[\s\S]*?\nditto\.video ! /, 'videotestsrc is-live=true pattern=ball ! video/x-raw,width=512,height=512,framerate=25/1 ! ')
        .replace('ditto.audio ! ', 'audiotestsrc is-live=true samplesperbuffer=640 ! audio/x-raw,rate=16000,channels=1 ! ');
  }
  if (kind === 'bare-file') {
    graph = graph.replace(/audiotestsrc[^!]*! [^!]*!/, `filesrc location=${join(media, process.env['FLOOR_AUDIO'] ?? 'speech.wav')} ! decodebin ! audioconvert ! audioresample ! audio/x-raw,rate=16000,channels=1 ! identity sync=true !`);
  }
  if (process.env['FLOOR_OPUS']) graph = graph.replace(/opusenc ([^!]*)!/, `opusenc $1! ${process.env['FLOOR_OPUS']} !`);
  if (process.env['FLOOR_OPUS_RATE']) graph = graph.replace(/audio\/x-raw,rate=\d+ ! opusenc/, `audio/x-raw,rate=${process.env['FLOOR_OPUS_RATE']} ! opusenc`);
  if (process.env['FLOOR_OPUS_FS']) graph = graph.replace('frame-size=20', `frame-size=${process.env['FLOOR_OPUS_FS']}`);
  if (kind === 'ditto-livesrc') {
    graph = graph.replace(/^filesrc [^!]*! decodebin/, 'audiotestsrc is-live=true samplesperbuffer=320 wave=sine');
  }
  if (process.env['FLOOR_DEBUG']) console.error(graph);
  const pipeline = await Pipeline.launch(graph, { name: `floor-${id}` });
  pipelines.set(id, pipeline);
  const webrtc = pipeline.webrtc('webrtc', { localAddresses: ['127.0.0.1'] });
  if (process.env['FLOOR_START'] === 'playing') {
    await pipeline.setState('playing');
  } else {
    // As the server does: the timeline starts when the viewer's ICE connects.
    await pipeline.setState('paused');
    let started = false;
    webrtc.on('ice-connection-state', (s) => {
      if ((s === 'connected' || s === 'completed') && !started) {
        started = true;
        void pipeline.setState('playing');
      }
    });
  }
  return { sdp: await webrtc.answer(offer, { capsWaitMs: 0 }), id };
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'POST' && req.url === '/offer') {
      const { sdp } = JSON.parse(Buffer.concat(chunks).toString()) as { sdp: string };
      answer(sdp).then((a) => reply(200, a), (e: Error) => reply(500, { error: e.message }));
    } else if (req.method === 'DELETE' && req.url?.startsWith('/offer/')) {
      const id = req.url.slice('/offer/'.length);
      const p = pipelines.get(id);
      pipelines.delete(id);
      void (p?.close() ?? Promise.resolve()).then(() => reply(204, null));
    } else {
      reply(404, { error: 'not found' });
    }
  });
});

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const addr = server.address();
  console.log(JSON.stringify({ listening: typeof addr === 'object' && addr ? addr.port : null }));
});
process.on('SIGTERM', () => {
  void Promise.all([...pipelines.values()].map((p) => p.close())).then(() => process.exit(0));
});
