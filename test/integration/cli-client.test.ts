import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probe } from '../helpers/gst-probe.js';
import { makeAudio } from '../helpers/media-files.js';
import { ROOT, testServer } from '../helpers/server-app.js';

/**
 * `ditto-gst client` as a user runs it, against the real server listening on 127.0.0.1 in this process:
 * what it records is decoded again by a separate GStreamer process, frame by frame.
 */

const work = mkdtempSync(join(tmpdir(), 'ditto-client-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

interface ClientRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function client(args: string[], onStdout?: (stdout: string, child: ChildProcess) => void): Promise<ClientRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'client', '--ice-local-address', '127.0.0.1', ...args], {
      cwd: ROOT,
      env: process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 40000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * What the client said: "ended (<reason>): <n> video frames (<codec>), <m> audio packets ... [; recorded <r> video
 * frames to <path>]". n counts what arrived; r what reached the file (frames keep arriving while it closes).
 */
function summary(stderr: string): { reason: string; frames: number; codec: string; packets: number; recorded: number | null } | null {
  const m = /ended \(([\w-]+)\): (\d+) video frames \((\w+)\), (\d+) audio packets/.exec(stderr);
  const r = /recorded (\d+) video frames to /.exec(stderr);
  return m ? { reason: m[1]!, frames: Number(m[2]), codec: m[3]!, packets: Number(m[4]), recorded: r ? Number(r[1]) : null } : null;
}

/** Decodes a recording with GStreamer (demuxer, VP8/H.264 and Opus decoders) and reports what came out. */
async function decode(path: string) {
  const r = await probe(`filesrc location=${path} ! decodebin name=d d. ! video/x-raw ! fakesink name=vsink d. ! audio/x-raw ! fakesink name=asink`, {
    timeoutS: 20,
    maxList: 0,
  });
  const size = /width=\(int\)(\d+), height=\(int\)(\d+)/.exec(r.video.caps ?? '');
  return {
    complete: r.eos && !r.error,
    errors: r.errors.map((e) => e.message).join('; '),
    frames: r.video.count,
    size: size ? `${size[1]}x${size[2]}` : null,
    videoS: ((r.video.last_pts ?? 0) - (r.video.first_pts ?? 0)) / 1e9,
    audioBuffers: r.audio.count,
  };
}

t.test('client', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const url = await s.app.listen({ host: '127.0.0.1', port: 0 });

  t.test('--record .webm --stats --duration: a stats line per second, a complete VP8 + Opus file, session deleted', async (t) => {
    const file = join(work, 'vp8.webm');
    const r = await client(['--server', url, '--audio', 'speech.wav', '--source', 'portrait.jpg', '--stats', '--duration', '4', '--frame-scale', '0.25', '--record', file]);
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('stats '));
    t.ok(lines.length >= 3, `stats lines: ${lines.length}`);
    for (const line of lines) {
      t.match(line, /^stats t=\d+\.\ds fps=\d+\.\d res=128x128 bitrate=\d+kbps frames=\d+ audio_packets=\d+ lost=\d+ jitter=\S+ av=\S+ conn=connected$/, line);
    }
    const last = lines.at(-1) ?? '';
    t.ok(Number(/fps=([\d.]+)/.exec(last)?.[1]) > 10, last);
    t.ok(Number(/bitrate=(\d+)/.exec(last)?.[1]) > 0, last);
    const sum = summary(r.stderr);
    t.match(sum, { reason: 'duration', codec: 'VP8' }, r.stderr);
    t.ok(sum && sum.frames >= 60, `video frames in 4 s: ${sum?.frames}`);
    t.ok(sum && sum.packets >= 100, `audio packets in 4 s: ${sum?.packets}`);
    t.equal(s.app.sessions.size, 0, 'the session was deleted');

    const d = await decode(file);
    t.ok(d.complete, `the file decodes to the end ${d.errors}`);
    t.equal(d.size, '128x128', 'frames at the requested size');
    // Everything the depayloader passed on is in the file, and decodes.
    t.ok(d.frames >= 60 && d.frames === sum?.recorded, `decoded ${d.frames} frames, recorded ${sum?.recorded}`);
    t.ok(d.videoS > 2.5, `video spans ${d.videoS.toFixed(2)} s`);
    t.ok(d.audioBuffers >= 100, `decoded audio buffers: ${d.audioBuffers}`);
  });

  t.test('--record .mp4 takes H.264 and is finished with its index', async (t) => {
    const file = join(work, 'h264.mp4');
    const r = await client(['--server', url, '--audio', 'speech.wav', '--source', 'portrait.jpg', '--duration', '2', '--frame-scale', '0.25', '--record', file]);
    t.equal(r.code, 0, r.stderr);
    const sum = summary(r.stderr);
    t.match(sum, { reason: 'duration', codec: 'H264' }, r.stderr);
    const d = await decode(file);
    t.ok(d.complete, `the file decodes to the end ${d.errors}`);
    t.equal(d.size, '128x128');
    t.ok(d.frames >= 20 && d.frames === sum?.recorded, `decoded ${d.frames} frames, recorded ${sum?.recorded}`);
    t.ok(d.audioBuffers > 0, `decoded audio buffers: ${d.audioBuffers}`);
  });

  t.test('local files are uploaded first; the client stops when the server ends the session', async (t) => {
    const audio = makeAudio(work, 'ogg-opus'); // 1 s of audio: the server ends the session after it
    const file = join(work, 'upload.mkv');
    const r = await client(['--server', url, '--audio', audio, '--source', join(ROOT, 'src', 'server', 'demo', 'media', 'portrait.jpg'), '--duration', '15', '--frame-scale', '0.25', '--record', file]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /uploaded .*o\.ogg, .*portrait\.jpg/);
    const sum = summary(r.stderr);
    t.match(sum, { reason: 'session-ended', codec: 'VP8' }, r.stderr);
    t.ok(sum && sum.frames > 0, `video frames: ${sum?.frames}`);
    const d = await decode(file);
    t.ok(d.complete, `the file decodes to the end ${d.errors}`);
    t.equal(d.frames, sum?.recorded, 'every recorded frame decodes');
    t.equal(s.app.sessions.size, 0);
  });

  t.test('SIGINT stops the client cleanly: recording finished, session deleted, exit 0', async (t) => {
    const file = join(work, 'interrupted.mkv');
    let sent = false;
    const r = await client(['--server', url, '--audio', 'speech.wav', '--source', 'portrait.jpg', '--stats', '--frame-scale', '0.25', '--record', file], (out, child) => {
      if (!sent && out.split('\n').filter((l) => l.startsWith('stats ')).length >= 2) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    t.ok(sent, 'stats lines came before the signal');
    t.equal(r.code, 0, r.stderr);
    const sum = summary(r.stderr);
    t.match(sum, { reason: 'signal' }, r.stderr);
    const d = await decode(file);
    t.ok(d.complete, `the file decodes to the end ${d.errors}`);
    t.ok(d.frames >= 25 && d.frames === sum?.recorded, `decoded ${d.frames} frames, recorded ${sum?.recorded}`);
    t.equal(s.app.sessions.size, 0, 'the session was deleted');
  });

  t.test("a bad --audio prints the server's error and fails, writing nothing", async (t) => {
    const file = join(work, 'never.mkv');
    const r = await client(['--server', url, '--audio', 'no-such.wav', '--source', 'portrait.jpg', '--duration', '2', '--record', file]);
    t.equal(r.code, 1);
    t.match(r.stderr, /the server refused \(HTTP 400\)\n\s+code:\s+MEDIA_NOT_FOUND\n\s+message: .+/);
    t.equal(s.app.sessions.size, 0);
    t.notOk(existsSync(file), 'no file left behind');
  });

  t.test('usage errors', async (t) => {
    let r = await client(['--audio', 'a.wav', '--source', 'b.jpg']);
    t.equal(r.code, 1);
    t.match(r.stderr, /--server is required/);
    r = await client(['--server', url, '--audio', 'a.wav', '--source', 'b.jpg', '--record', join(work, 'x.webm'), '--video-codec', 'h264']);
    t.match(r.stderr, /cannot hold H264/);
    r = await client(['--server', url, '--audio', 'a.wav', '--source', 'b.jpg', '--record', join(work, 'x.avi')]);
    t.match(r.stderr, /\.mkv, \.webm or \.mp4/);
  });
});
