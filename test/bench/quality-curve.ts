/**
 * Video quality per bitrate for the session encoder: the element's frames (offline, so every frame is
 * compared) go through the VP8 settings of pipelines/vp8.pipeline at each bitrate and back through vp8dec;
 * Y-PSNR and SSIM (8x8 windows on luma) of decoded against original, plus the bitrate actually produced.
 * Bounded: `seconds` of the sample speech.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const W = 512;
const H = 512;
const FRAME = (W * H * 3) / 2;

export interface QualityPoint {
  kbps: number;
  actualKbps: number;
  psnrDb: number;
  ssim: number;
  /** Lowest per-frame SSIM (the worst moment, e.g. right after a key frame is starved). */
  minSsim: number;
}

/** The VP8 encoder of vp8.pipeline at a given bitrate (kept in step with the template by the caller's check). */
export function vp8Encoder(template: string, kbps: number): string {
  const m = /vp8enc[^!]*/.exec(template);
  if (!m) throw new Error('template has no vp8enc');
  return m[0].replace(/\s+/g, ' ').replace(/target-bitrate=\d+/, `target-bitrate=${kbps * 1000}`).trim();
}

function ssimWindowed(a: Buffer, b: Buffer, offA: number, offB: number): number {
  const C1 = (0.01 * 255) ** 2;
  const C2 = (0.03 * 255) ** 2;
  let sum = 0;
  let n = 0;
  for (let by = 0; by + 8 <= H; by += 8) {
    for (let bx = 0; bx + 8 <= W; bx += 8) {
      let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
      for (let y = by; y < by + 8; y++) {
        for (let x = bx; x < bx + 8; x++) {
          const va = a[offA + y * W + x]!;
          const vb = b[offB + y * W + x]!;
          sa += va; sb += vb; saa += va * va; sbb += vb * vb; sab += va * vb;
        }
      }
      const ma = sa / 64, mb = sb / 64;
      const va = saa / 64 - ma * ma, vb = sbb / 64 - mb * mb, cov = sab / 64 - ma * mb;
      sum += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
      n++;
    }
  }
  return sum / n;
}

export function qualityCurve(opts: { pluginDir: string; speechPath: string; imagePath: string; template: string; kbps: number[]; seconds?: number }): QualityPoint[] {
  const dir = mkdtempSync(join(tmpdir(), 'ditto-quality-'));
  try {
    // A canonical 44-byte-header 16 kHz mono WAV, cut to `seconds`.
    const wav = readFileSync(opts.speechPath);
    const bytes = Math.min(wav.length - 44, Math.round((opts.seconds ?? 6) * 16_000) * 2);
    const cut = Buffer.concat([wav.subarray(0, 44), wav.subarray(44, 44 + bytes)]);
    cut.writeUInt32LE(36 + bytes, 4);
    cut.writeUInt32LE(bytes, 40);
    const clip = join(dir, 'clip.wav');
    writeFileSync(clip, cut);
    const ref = join(dir, 'ref.yuv');
    const points: QualityPoint[] = [];
    for (const kbps of opts.kbps) {
      const dec = join(dir, 'dec.yuv');
      const enc = join(dir, 'enc.vp8');
      const first = points.length === 0;
      const desc = [
        `filesrc location=${clip} ! wavparse ! audioconvert ! audioresample ! audio/x-raw,rate=16000,channels=1 !`,
        `dittotalkinghead name=d mode=offline source-image=${opts.imagePath}`,
        'd.video ! videoconvert ! video/x-raw,format=I420 ! tee name=t',
        first ? `t. ! queue ! filesink location=${ref}` : '',
        `t. ! queue ! ${vp8Encoder(opts.template, kbps)} ! tee name=e`,
        `e. ! queue ! filesink location=${enc}`,
        `e. ! queue ! vp8dec ! video/x-raw,format=I420 ! filesink location=${dec}`,
        'd.audio ! fakesink',
      ].join(' ');
      const r = spawnSync('gst-launch-1.0', ['-q', ...desc.split(/\s+/).filter(Boolean)], {
        env: { ...process.env, GST_PLUGIN_PATH: opts.pluginDir },
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`quality pipeline at ${kbps} kbit/s failed: ${r.stderr}`);
      const a = readFileSync(ref);
      const b = readFileSync(dec);
      const frames = Math.min(a.length, b.length) / FRAME;
      let mse = 0;
      let ssim = 0;
      let minSsim = 1;
      for (let f = 0; f < frames; f++) {
        const o = f * FRAME;
        let e = 0;
        for (let i = 0; i < W * H; i++) e += (a[o + i]! - b[o + i]!) ** 2;
        mse += e / (W * H);
        const s = ssimWindowed(a, b, o, o);
        ssim += s;
        minSsim = Math.min(minSsim, s);
      }
      mse /= frames;
      points.push({
        kbps,
        actualKbps: (statSync(enc).size * 8) / (frames / 25) / 1000,
        psnrDb: 10 * Math.log10((255 * 255) / Math.max(mse, 1e-9)),
        ssim: ssim / frames,
        minSsim,
      });
    }
    return points;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
