// The /demo page: one RTCPeerConnection per run, the predecessor's offer payload, live stats. Speech comes
// from a file on the server, the microphone (sent on the same peer connection), or files pushed over the
// session's live-audio WebSocket ("say"), with Interrupt.
const $ = (id) => document.getElementById(id);
const video = $('video');
let pc = null;
let sessionId = null;
// The session belongs to this page: every later request sends its token, to the URL the answer names.
let session = null; // { token, url }
let statsTimer = null;
let last = null; // previous inbound-rtp snapshot, for bitrates
let mic = null; // the microphone's MediaStream in microphone mode
let sock = null; // the live-audio WebSocket of a push session

const HINTS = {
  mic: 'Your microphone drives the face on the same connection. Playback is muted so it does not echo.',
  push: 'After Start, pick a WAV or Ogg/Opus file and press Say; Interrupt stops the speech at once.',
};
const audioMode = () => document.querySelector('input[name=audio_mode]:checked').value;

function showMode() {
  const mode = audioMode();
  $('file_fields').classList.toggle('hidden', mode !== 'file');
  $('audio_path').required = mode === 'file';
  $('mode_hint').textContent = HINTS[mode] ?? '';
  $('mode_hint').classList.toggle('hidden', !HINTS[mode]);
}

async function loadConfig() {
  const res = await fetch('/demo/config');
  const cfg = await res.json();
  $('source_path').value = cfg.samples.source_path;
  $('audio_path').value = cfg.samples.audio_path;
  const d = cfg.defaults;
  $('frame_scale').value = d.frame_scale;
  $('sampling_timesteps').value = d.sampling_timesteps;
  [$('chunk_past').value, $('chunk_current').value, $('chunk_future').value] = d.chunk_config;
  $('chunk_sleep').value = Math.round(d.chunk_sleep * 1000);
  for (const id of ['frame_scale', 'sampling_timesteps', 'chunk_sleep']) {
    const input = $(id);
    const show = () => { $(`${id}_out`).textContent = input.value; };
    input.addEventListener('input', show);
    show();
  }
  return cfg;
}

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

function setConn(state) {
  const pill = $('conn');
  pill.textContent = state;
  pill.className = `pill ${state}`;
}

function waitForIceGathering(peer, timeoutMs) {
  if (peer.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { peer.removeEventListener('icegatheringstatechange', check); resolve(); };
    const check = () => { if (peer.iceGatheringState === 'complete') done(); };
    peer.addEventListener('icegatheringstatechange', check);
    setTimeout(done, timeoutMs);
  });
}

function preferCodec(transceiver, mime) {
  if (!mime || !RTCRtpReceiver.getCapabilities) return;
  const codecs = RTCRtpReceiver.getCapabilities('video').codecs;
  const wanted = codecs.filter((c) => c.mimeType.toLowerCase() === `video/${mime.toLowerCase()}`);
  if (wanted.length) transceiver.setCodecPreferences([...wanted, ...codecs.filter((c) => !wanted.includes(c))]);
}

async function start(cfg) {
  $('start').disabled = true;
  $('warnings').replaceChildren();
  setStatus('negotiating…');
  // STUN/TURN with TURN credentials minted for this session (the page's config is the fallback)
  const ice = await fetch('/webrtc/ice-servers').then((r) => (r.ok ? r.json() : null)).catch(() => null);
  pc = new RTCPeerConnection({ iceServers: ice?.iceServers ?? cfg.iceServers ?? [] });
  const stream = new MediaStream();
  pc.ontrack = (ev) => {
    stream.addTrack(ev.track);
    video.srcObject = stream;
    $('placeholder').classList.add('hidden');
  };
  pc.onconnectionstatechange = () => {
    setConn(pc.connectionState);
    if (pc.connectionState === 'connected') setStatus('streaming');
    if (pc.connectionState === 'failed') { setStatus('connection failed', true); stop(); }
  };
  const mode = audioMode();
  preferCodec(pc.addTransceiver('video', { direction: 'recvonly' }), $('codec').value);
  if (mode === 'mic') {
    setStatus('asking for the microphone…');
    mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    // sendrecv: the microphone goes up, the avatar's voice comes back on the same m-line
    pc.addTransceiver(mic.getAudioTracks()[0], { direction: 'sendrecv', streams: [mic] });
    video.muted = true;
    setStatus('negotiating…');
  } else {
    pc.addTransceiver('audio', { direction: 'recvonly' });
    video.muted = false;
  }
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIceGathering(pc, 1000);

  const body = {
    sdp: pc.localDescription.sdp,
    type: 'offer',
    ...(mode === 'file' ? { audio_path: $('audio_path').value } : { audio_source: mode }),
    source_path: $('source_path').value,
    setup_kwargs: { sampling_timesteps: Number($('sampling_timesteps').value), online_mode: true },
    run_kwargs: {
      frame_scale: Number($('frame_scale').value),
      chunk_config: [$('chunk_past').value, $('chunk_current').value, $('chunk_future').value].map(Number),
      chunk_sleep_ms: Number($('chunk_sleep').value),
    },
  };
  const res = await fetch('/webrtc/offer', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const answer = await res.json();
  if (!res.ok) {
    setStatus(`${answer.error?.code ?? res.status}: ${answer.error?.message ?? 'offer refused'}`, true);
    await stop();
    return;
  }
  sessionId = answer.session_id;
  session = { token: answer.session_token, url: answer.session_url ?? `/webrtc/sessions/${encodeURIComponent(sessionId)}` };
  for (const w of answer.warnings ?? []) {
    const li = document.createElement('li');
    li.textContent = typeof w === 'string' ? w : w.message ?? JSON.stringify(w);
    $('warnings').append(li);
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  $('stop').disabled = false;
  $('mic-badge').classList.toggle('hidden', mode !== 'mic');
  if (mode === 'push') openSay(session);
  statsTimer = setInterval(updateStats, 1000);
}

// Push sessions: files go over the session's live-audio WebSocket; its replies say what was queued.
// Browsers cannot set headers on a WebSocket: the token goes as a subprotocol next to "ditto-gst".
function openSay({ token, url }) {
  const ws = new URL(`${url}/audio`, location.href);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  sock = new WebSocket(ws.href, ['ditto-gst', `ditto-token.${token}`]);
  sock.binaryType = 'arraybuffer';
  $('say').classList.remove('hidden');
  $('say_status').textContent = 'connecting…';
  const ready = () => {
    const open = sock?.readyState === WebSocket.OPEN;
    $('say_send').disabled = !open || !$('say_file').files.length;
    $('interrupt').disabled = !open;
  };
  sock.onopen = () => { $('say_status').textContent = 'ready: pick a file and press Say'; ready(); };
  sock.onclose = () => { $('say_status').textContent = 'live audio closed'; ready(); };
  sock.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === 'queued') $('say_status').textContent = `queued ${m.duration_s.toFixed(1)} s (${m.pushed_s.toFixed(1)} s in all)`;
    else if (m.type === 'interrupted') $('say_status').textContent = 'interrupted';
    else if (m.type === 'error') $('say_status').textContent = `${m.error.code}: ${m.error.message}`;
    $('say_status').classList.toggle('error', m.type === 'error');
  };
  $('say_file').onchange = ready;
  ready();
}

function closeSay() {
  sock?.close();
  sock = null;
  $('say').classList.add('hidden');
  $('say_send').disabled = $('interrupt').disabled = true;
}

$('say_send').addEventListener('click', async () => {
  const file = $('say_file').files[0];
  if (!file || sock?.readyState !== WebSocket.OPEN) return;
  $('say_status').textContent = `sending ${file.name}…`;
  sock.send(await file.arrayBuffer());
});
$('interrupt').addEventListener('click', () => {
  if (sock?.readyState === WebSocket.OPEN) sock.send(JSON.stringify({ type: 'interrupt' }));
});

function authHeaders() {
  return session ? { authorization: `Bearer ${session.token}` } : {};
}

async function stop() {
  clearInterval(statsTimer);
  statsTimer = null;
  last = null;
  if (session) {
    fetch(session.url, { method: 'DELETE', headers: authHeaders() }).catch(() => {});
  }
  sessionId = null;
  session = null;
  pc?.close();
  pc = null;
  mic?.getTracks().forEach((track) => track.stop());
  mic = null;
  closeSay();
  $('mic-badge').classList.add('hidden');
  video.srcObject = null;
  $('placeholder').classList.remove('hidden');
  $('start').disabled = false;
  $('stop').disabled = true;
  setConn('idle');
}

function fill(dl, rows) {
  dl.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    return [dt, dd];
  }));
}

const fmt = (v, digits = 0, unit = '') => (v === undefined || v === null || Number.isNaN(v) ? '–' : `${Number(v).toFixed(digits)}${unit}`);

async function updateStats() {
  if (!pc) return;
  const report = await pc.getStats();
  const inbound = {};
  let pair = null;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp') inbound[s.kind] = s;
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  const v = inbound.video ?? {};
  const a = inbound.audio ?? {};
  const now = performance.now();
  let vKbps, aKbps;
  if (last) {
    const dt = (now - last.t) / 1000;
    vKbps = ((v.bytesReceived ?? 0) - last.v) * 8 / dt / 1000;
    aKbps = ((a.bytesReceived ?? 0) - last.a) * 8 / dt / 1000;
  }
  last = { t: now, v: v.bytesReceived ?? 0, a: a.bytesReceived ?? 0 };
  const jb = (s) => (s.jitterBufferEmittedCount ? (s.jitterBufferDelay / s.jitterBufferEmittedCount) * 1000 : undefined);
  // Chrome's own playout clocks: the difference of the two tracks' estimated playout times is the A/V offset.
  const av = v.estimatedPlayoutTimestamp && a.estimatedPlayoutTimestamp
    ? v.estimatedPlayoutTimestamp - a.estimatedPlayoutTimestamp : undefined;
  fill($('stats'), [
    ['fps', fmt(v.framesPerSecond, 1)],
    ['resolution', v.frameWidth ? `${v.frameWidth}×${v.frameHeight}` : '–'],
    ['codec', report.get(v.codecId)?.mimeType?.split('/')[1] ?? '–'],
    ['video bitrate', fmt(vKbps, 0, ' kbit/s')],
    ['audio bitrate', fmt(aKbps, 0, ' kbit/s')],
    ['jitter buffer (video)', fmt(jb(v), 0, ' ms')],
    ['jitter buffer (audio)', fmt(jb(a), 0, ' ms')],
    ['A/V offset', fmt(av, 0, ' ms')],
    ['frames decoded', fmt(v.framesDecoded)],
    ['ICE', pc.iceConnectionState],
    ['connection', pc.connectionState],
    ['round trip', fmt(pair?.currentRoundTripTime * 1000, 1, ' ms')],
  ]);
  if (!session) return;
  const res = await fetch(session.url, { headers: authHeaders() });
  if (!res.ok) { fill($('server-stats'), [['session', 'ended']]); return; }
  const s = await res.json();
  // The element's own counters first: silence frames stop growing while speech (or the microphone) drives it.
  const keys = ['state', 'audio_source', 'frames_out', 'silence_frames', 'frames_late', 'fps', 'av_drift_ms', 'latency_ms',
    'bitrate_bps', 'pushed_audio_s', 'interrupts', 'connection_state', 'ice_connection_state', 'pipeline', 'video_codec'];
  const flat = flatten(s);
  fill($('server-stats'), keys.filter((k) => flat[k] !== undefined && flat[k] !== null).map((k) => [k.replaceAll('_', ' '), flat[k]]));
}

function flatten(obj, prefix = '') {
  const out = {};
  for (const [k, val] of Object.entries(obj)) {
    if (k === 'params' || k === 'warnings') continue;
    const key = prefix ? `${prefix}.${k}` : k;
    if (val && typeof val === 'object' && !Array.isArray(val)) Object.assign(out, flatten(val, key));
    else out[key] = typeof val === 'number' ? String(Math.round(val * 100) / 100) : String(val);
  }
  return out;
}

// Uploads: the server checks the file by content and answers the name the offer takes as it is.
async function upload(field, input, target) {
  const file = input.files?.[0];
  if (!file) return;
  const form = new FormData();
  form.append(field, file);
  setStatus(`uploading ${file.name}…`);
  const res = await fetch('/upload', { method: 'POST', body: form });
  const body = await res.json();
  if (!res.ok) {
    setStatus(`${body.error?.code ?? res.status}: ${body.error?.message ?? 'upload refused'}`, true);
    input.value = '';
    return;
  }
  $(target).value = field === 'audio' ? body.audio_path : body.source_path;
  setStatus(`uploaded ${file.name}`);
}

$('source_file').addEventListener('change', () => upload('source', $('source_file'), 'source_path').catch((e) => setStatus(String(e), true)));
$('audio_file').addEventListener('change', () => upload('audio', $('audio_file'), 'audio_path').catch((e) => setStatus(String(e), true)));

for (const radio of document.querySelectorAll('input[name=audio_mode]')) radio.addEventListener('change', showMode);
showMode();

loadConfig().then((cfg) => {
  $('start').addEventListener('click', () => start(cfg).catch((err) => { setStatus(String(err), true); stop(); }));
  $('stop').addEventListener('click', () => { stop(); setStatus('stopped'); });
}).catch((err) => setStatus(`cannot load config: ${err}`, true));
