/**
 * Live GStreamer objects, counted by GStreamer itself: the core `leaks` tracer (GST_TRACERS=leaks, filtered to
 * GstObject so in-flight buffers and caps do not blur the figure) with GST_LEAKS_TRACER_SIG set, which makes it
 * act on SIGUSR2: the first signal is a checkpoint, each later one logs (GST_DEBUG=GST_TRACER:7, to a file) the
 * objects created since the previous checkpoint ("object-added") and those destroyed since ("object-removed");
 * created minus destroyed is how many more GstObjects are alive than at the checkpoint. The handler is a GLib unix-signal source on the default main context,
 * which the addon runs for the life of the process (src/native/addon.c). SIGUSR2, not SIGUSR1: Node keeps
 * SIGUSR1 for its inspector.
 *
 * enable() must run before the addon is loaded (gst_init reads the variables).
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GstObjectDelta {
  /** GstObjects created and destroyed since the checkpoint. */
  added: number;
  removed: number;
  /** added - removed: GstObjects alive now beyond those alive at the checkpoint. */
  alive_delta: number;
  /** Per type, where created and destroyed differ. */
  delta_by_type: Record<string, number>;
}

export class GstObjectTracker {
  private readonly dir = mkdtempSync(join(tmpdir(), 'ditto-gst-leaks-'));
  private readonly file = join(this.dir, 'gst.log');
  private offset = 0;

  /** Sets the tracer up for this process; false when GStreamer may already be initialised (then no figures). */
  static enable(): GstObjectTracker {
    const t = new GstObjectTracker();
    process.env['GST_TRACERS'] = [process.env['GST_TRACERS'], 'leaks(filters=GstObject)'].filter(Boolean).join(';');
    process.env['GST_LEAKS_TRACER_SIG'] = '1';
    process.env['GST_DEBUG'] = [process.env['GST_DEBUG'], 'GST_TRACER:7'].filter(Boolean).join(',');
    process.env['GST_DEBUG_FILE'] = t.file;
    process.env['GST_DEBUG_NO_COLOR'] = '1';
    return t;
  }

  private size(): number {
    try {
      return statSync(this.file).size;
    } catch {
      return 0;
    }
  }

  /** Signals a checkpoint and waits until the tracer stopped writing; the log lines it wrote. */
  private async signal(): Promise<string[]> {
    const before = this.size();
    process.kill(process.pid, 'SIGUSR2');
    let last = before;
    let stable = 0;
    for (let i = 0; i < 100 && stable < 5; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const now = this.size();
      stable = now === last && now > before ? stable + 1 : 0;
      last = now;
    }
    const text = readFileSync(this.file, 'latin1').slice(this.offset);
    this.offset = last;
    return text.split('\n');
  }

  /** The first checkpoint: objects alive now are the baseline. */
  async checkpoint(): Promise<void> {
    await this.signal();
  }

  /** Objects created since the last checkpoint that are still alive (and starts a new checkpoint). */
  async delta(): Promise<GstObjectDelta | null> {
    const lines = await this.signal();
    if (!lines.some((l) => l.includes('objects-removed') || l.includes('object-'))) return null;
    const byType: Record<string, number> = {};
    let added = 0;
    let removed = 0;
    for (const l of lines) {
      const sign = l.includes('object-added') ? 1 : l.includes('object-removed') ? -1 : 0;
      if (sign === 0) continue;
      if (sign > 0) added++;
      else removed++;
      const type = /type-name=\(string\)([A-Za-z0-9_]+)/.exec(l)?.[1] ?? '?';
      byType[type] = (byType[type] ?? 0) + sign;
    }
    const delta_by_type = Object.fromEntries(Object.entries(byType).filter(([, n]) => n !== 0));
    return { added, removed, alive_delta: added - removed, delta_by_type };
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
