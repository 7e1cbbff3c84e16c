import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPipelineCatalog } from '../../src/pipelines/pipeline-template.js';
import { selectTemplates } from '../../src/pipelines/template-selection.js';

/**
 * Which template serves each codec, given what this host's GStreamer has: the configured one, else the next
 * template for the same codec (an H100 or A100 has no NVENC: h264-nvenc.pipeline falls back to x264).
 */

const PIPELINES = new URL('../../pipelines/', import.meta.url).pathname;
const without = (...missing: string[]) => (f: string) => !missing.includes(f);

t.test('the configured template when everything it needs is installed', async (t) => {
  const catalog = loadPipelineCatalog(PIPELINES, { VP8: 'vp8.pipeline', H264: 'h264-nvenc.pipeline' });
  const s = selectTemplates(catalog, ['VP8', 'H264'], () => true);
  t.same([...s.usable].map(([c, tpl]) => [c, tpl.name]), [['VP8', 'vp8.pipeline'], ['H264', 'h264-nvenc.pipeline']], 'codec preference order kept');
  t.same(s.fallbacks, []);
  t.same(s.disabled, []);
});

t.test('no NVENC: h264-nvenc.pipeline falls back to the x264 template, VP8 is untouched', async (t) => {
  const catalog = loadPipelineCatalog(PIPELINES, { VP8: 'vp8.pipeline', H264: 'h264-nvenc.pipeline' });
  const probed: string[] = [];
  const s = selectTemplates(catalog, ['H264', 'VP8'], (f) => {
    probed.push(f);
    return f !== 'nvh264enc';
  });
  t.equal(s.usable.get('H264')?.name, 'h264.pipeline');
  t.equal(s.usable.get('VP8')?.name, 'vp8.pipeline');
  t.same(s.fallbacks, [{ codec: 'H264', configured: { template: 'h264-nvenc.pipeline', missing: ['nvh264enc'] }, used: 'h264.pipeline' }]);
  t.same(s.disabled, []);
  t.equal(probed.length, new Set(probed).size, 'each factory is probed once');
});

t.test('a codec whose every template lacks an element is disabled, with what each lacks', async (t) => {
  const catalog = loadPipelineCatalog(PIPELINES, { VP8: 'vp8.pipeline', H264: 'h264-nvenc.pipeline' });
  const s = selectTemplates(catalog, ['VP8', 'H264'], without('nvh264enc', 'x264enc'));
  t.same([...s.usable.keys()], ['VP8']);
  t.same(s.fallbacks, []);
  t.same(s.disabled, [
    { codec: 'H264', tried: [{ template: 'h264-nvenc.pipeline', missing: ['nvh264enc'] }, { template: 'h264.pipeline', missing: ['x264enc'] }] },
  ]);
  const none = selectTemplates(catalog, ['VP8'], without('dittotalkinghead'));
  t.same([...none.usable.keys()], []);
  t.same(none.disabled, [{ codec: 'VP8', tried: [{ template: 'vp8.pipeline', missing: ['dittotalkinghead'] }] }]);
  t.same([...selectTemplates(catalog, ['H264'], () => true).usable.keys()], ['H264'], 'codecs not preferred are not offered');
});

t.test('backend "ditto" needs {{backend_options}}: a template without it is skipped for the next one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ditto-selection-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const vp8 = readFileSync(join(PIPELINES, 'vp8.pipeline'), 'utf8');
  t.match(vp8, '{{backend_options}}', 'the shipped template binds the reserved worker');
  writeFileSync(join(dir, 'a-custom.pipeline'), vp8.replace('backend={{backend}} {{backend_options}}', 'backend={{backend}}'));
  writeFileSync(join(dir, 'vp8.pipeline'), vp8);
  const catalog = loadPipelineCatalog(dir, { VP8: 'a-custom.pipeline' });
  t.equal(selectTemplates(catalog, ['VP8'], () => true).usable.get('VP8')?.name, 'a-custom.pipeline', 'builtin: any template');
  const s = selectTemplates(catalog, ['VP8'], () => true, ['backend_options']);
  t.equal(s.usable.get('VP8')?.name, 'vp8.pipeline');
  t.same(s.fallbacks, [{ codec: 'VP8', configured: { template: 'a-custom.pipeline', missing: ['{{backend_options}}'] }, used: 'vp8.pipeline' }]);
});
