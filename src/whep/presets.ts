import { z } from 'zod';

/**
 * WHEP avatars: `POST /whep/:avatar` names a preset from configuration instead of sending a JSON payload,
 * because a WHEP client sends nothing but its SDP offer. A preset is one config string (so it works from
 * env and flags as well as the config file):
 *
 *   sample:source_path=portrait.jpg;audio_path=speech.wav;frame_scale=0.5
 *
 * Its fields are the offer payload's (source_path, audio_path, audio_source, frame_scale, sampling_timesteps,
 * chunk_config as 3/5/2, chunk_sleep, …): whatever POST /webrtc/offer accepts, checked by the same schema per offer.
 */

export type PresetPayload = Record<string, string | number | number[]>;

const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const NUMERIC = new Set(['frame_scale', 'sampling_timesteps', 'chunk_sleep']);

export function parsePreset(text: string): { name: string; payload: PresetPayload } {
  const colon = text.indexOf(':');
  const name = (colon < 0 ? text : text.slice(0, colon)).trim();
  if (!NAME_RE.test(name)) throw new Error(`"${name}" is not an avatar name (lower-case letters, digits, - and _)`);
  const payload: PresetPayload = {};
  const body = colon < 0 ? '' : text.slice(colon + 1);
  for (const part of body.split(';').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`avatar ${name}: "${part}" is not key=value`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 'sdp' || key === 'type') throw new Error(`avatar ${name}: "${key}" comes from the WHEP offer`);
    if (key in payload) throw new Error(`avatar ${name}: "${key}" given twice`);
    if (NUMERIC.has(key)) {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`avatar ${name}: ${key} must be a number`);
      payload[key] = n;
    } else if (key === 'chunk_config') {
      payload[key] = value.split(/[,/]/).map((v) => Number(v.trim()));
    } else payload[key] = value;
  }
  if (payload['source_path'] === undefined) throw new Error(`avatar ${name}: source_path (the portrait) is required`);
  return { name, payload };
}

/** The config leaf: a list of presets; names are unique. */
export const whepPresetsSchema = z
  .array(z.string().min(1))
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    for (const [i, text] of list.entries()) {
      try {
        const { name } = parsePreset(text);
        if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i], message: `avatar "${name}" is defined twice` });
        seen.add(name);
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: [i], message: (e as Error).message });
      }
    }
  });

export function presetMap(list: readonly string[]): Map<string, PresetPayload> {
  return new Map(list.map((t) => {
    const p = parsePreset(t);
    return [p.name, p.payload];
  }));
}
