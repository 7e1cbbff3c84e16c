import type { VideoCodec } from '../config/schema.js';
import type { PipelineCatalog, PipelineTemplate } from './pipeline-template.js';

/**
 * Which template serves each codec on this host. The configured one when everything it needs is installed;
 * otherwise the next template in the catalog declaring the same codec (file name order) that is usable,
 * e.g. h264-nvenc.pipeline -> h264.pipeline on an H100, which has no NVENC; otherwise the codec is off.
 */

export interface TemplateProblem {
  template: string;
  /** Missing element factories, and "{{placeholder}}" entries for placeholders the backend needs. */
  missing: string[];
}

export interface TemplateFallback {
  codec: VideoCodec;
  configured: TemplateProblem;
  used: string;
}

export interface TemplateSelection {
  /** In the configured order of codec preference. */
  usable: Map<VideoCodec, PipelineTemplate>;
  fallbacks: TemplateFallback[];
  /** Codecs with no usable template, with what each candidate lacks. */
  disabled: Array<{ codec: VideoCodec; tried: TemplateProblem[] }>;
}

export function selectTemplates(
  catalog: PipelineCatalog,
  codecPreference: readonly VideoCodec[],
  hasElementFactory: (factory: string) => boolean,
  requiredPlaceholders: readonly string[] = [],
): TemplateSelection {
  const selection: TemplateSelection = { usable: new Map(), fallbacks: [], disabled: [] };
  const known = new Map<string, boolean>();
  const has = (f: string): boolean => {
    if (!known.has(f)) known.set(f, hasElementFactory(f));
    return known.get(f)!;
  };
  const lacks = (t: PipelineTemplate): string[] => [
    ...t.factories.filter((f) => !has(f)),
    ...requiredPlaceholders.filter((p) => !t.placeholders.has(p)).map((p) => `{{${p}}}`),
  ];
  for (const codec of new Set(codecPreference)) {
    const configured = catalog.byCodec.get(codec);
    if (!configured) continue;
    const others = [...catalog.all.values()]
      .filter((t) => t.codec === codec && t.file !== configured.file)
      .sort((a, b) => a.name.localeCompare(b.name));
    const tried: TemplateProblem[] = [];
    for (const candidate of [configured, ...others]) {
      const missing = lacks(candidate);
      if (missing.length === 0) {
        selection.usable.set(codec, candidate);
        if (candidate !== configured) selection.fallbacks.push({ codec, configured: tried[0]!, used: candidate.name });
        break;
      }
      tried.push({ template: candidate.name, missing });
    }
    if (!selection.usable.has(codec)) selection.disabled.push({ codec, tried });
  }
  return selection;
}
