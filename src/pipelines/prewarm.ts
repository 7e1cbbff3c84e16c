import type { PipelineTemplate } from './pipeline-template.js';
import type { GstApi } from '../gst/loader.js';

/** webrtcbin builds these per transport; dtlsdec's first instance creates the process's DTLS certificate. */
const TRANSPORT_FACTORIES = ['dtlsdec', 'dtlsenc', 'nicesrc', 'nicesink', 'rtpbin'];

/**
 * The first session in a process paid 100-350 ms for loading plugins and creating the DTLS certificate. Creating
 * one instance of every element the templates use, once at startup, moves that cost off the first viewer.
 * The instances stay in NULL: nothing plays, nothing is linked. Returns the factories that were instantiated.
 */
export async function prewarmElements(gst: GstApi, templates: Iterable<PipelineTemplate>): Promise<string[]> {
  const factories = new Set<string>(TRANSPORT_FACTORIES);
  for (const t of templates) for (const f of t.factories) factories.add(f);
  const available = [...factories].filter((f) => gst.hasElementFactory(f));
  // Unlinked elements side by side are a valid launch description.
  const pipeline = await gst.Pipeline.launch(available.map((f, i) => `${f} name=prewarm${i}`).join(' '), { name: 'prewarm' });
  await pipeline.close();
  return available;
}
