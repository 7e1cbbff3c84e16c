import { delimiter } from 'node:path';

/**
 * The part of src/gst the sessions use, loaded lazily: GST_PLUGIN_PATH has to be set before the addon
 * initialises GStreamer, and requests that fail validation never need GStreamer at all.
 */
export type GstApi = Pick<typeof import('./index.js'), 'Pipeline' | 'hasElementFactory' | 'gstVersion'>;
export type GstLoader = () => Promise<GstApi>;

export function createGstLoader(pluginPath: string): GstLoader {
  let loading: Promise<GstApi> | null = null;
  return () => {
    if (!loading) {
      const current = process.env['GST_PLUGIN_PATH'];
      const parts = current ? current.split(delimiter) : [];
      if (pluginPath && !parts.includes(pluginPath)) process.env['GST_PLUGIN_PATH'] = [pluginPath, ...parts].join(delimiter);
      loading = import('./index.js');
      // A failed load is retried on the next call instead of being cached forever.
      loading.catch(() => {
        loading = null;
      });
    }
    return loading;
  };
}

/** A GstError from src/gst (matched by shape so this module needs no runtime import of the addon). */
export function gstErrorCode(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('GST_') ? code : null;
}
