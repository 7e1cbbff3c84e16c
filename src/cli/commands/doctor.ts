import { loadConfig } from '../../config/load.js';
import { configOptions } from '../../config/options.js';
import { join } from 'node:path';
import { packageRoot } from '../../config/package-root.js';
import { formatReport, runDoctor } from '../../doctor/doctor.js';
import { formatModelReport, runModelDoctor } from '../../doctor/model.js';
import { createGstLoader } from '../../gst/loader.js';
import { parseArgs } from '../args.js';
import type { Command } from '../command.js';
import { configOptionsHelp } from '../help.js';

const HELP = `Usage: ditto-gst doctor [--json] [--strict] [server options]
       ditto-gst doctor --model [--json] [--upstream DIR] [--model-dir DIR | --cfg-pkl F --data-root D]

Checks that this machine can run ditto-gst as configured: the GStreamer version, the native addon, the
dittotalkinghead plugin, every element of the configured session pipelines, and the elements behind uploads,
rendering, the client and live audio. Each missing element names the Debian package to install.

With --model (on a GPU box; the GPU image's first command): imports upstream Ditto, unpickles its config,
loads every engine and plugin (and says whether they were built for this GPU), runs the worker's self-test,
then renders the bundled sample through the real element with a one-worker pool, and prints first-frame delay,
real-time factor, fps, GPU, driver, CUDA and TensorRT versions. Defaults from DITTO_UPSTREAM_DIR,
DITTO_MODEL_DIR, DITTO_CFG_PKL, DITTO_DATA_ROOT, DITTO_SETUP_JSON (as the GPU image sets them); python from
DITTO_PYTHON (python3).

Exit code: 0 usable, 1 a required check failed (or any warning with --strict).

  --json     print the report as JSON
  --strict   treat warnings (optional features) as failures
Server options (they select the pipelines and plugin path checked):
${configOptionsHelp()}`;

export const doctorCommand: Command = {
  name: 'doctor',
  help: () => HELP,
  async run(argv) {
    const booleans = new Set(['json', 'strict', 'model', ...configOptions().filter((o) => o.kind === 'boolean').map((o) => o.flag.slice(2))]);
    const { flags } = parseArgs(argv, booleans);
    const json = flags['json'] === 'true';
    const strict = flags['strict'] === 'true';
    delete flags['json'];
    delete flags['strict'];
    if (flags['model'] === 'true') {
      const env = process.env;
      const pick = (flag: string, name: string) => flags[flag] ?? env[name] ?? undefined;
      const media = join(packageRoot(), 'src', 'server', 'demo', 'media');
      const modelDir = pick('model-dir', 'DITTO_MODEL_DIR');
      const cfgPkl = pick('cfg-pkl', 'DITTO_CFG_PKL');
      const dataRoot = pick('data-root', 'DITTO_DATA_ROOT');
      const report = await runModelDoctor(
        {
          python: env['DITTO_PYTHON'] ?? 'python3',
          ...(pick('upstream', 'DITTO_UPSTREAM_DIR') ? { upstream: pick('upstream', 'DITTO_UPSTREAM_DIR') as string } : {}),
          ...(modelDir ? { modelDir } : {}),
          ...(cfgPkl ? { cfgPkl } : {}),
          ...(dataRoot ? { dataRoot } : {}),
          ...(env['DITTO_SETUP_JSON'] ? { setupJson: env['DITTO_SETUP_JSON'] } : {}),
          portrait: flags['portrait'] ?? join(media, 'portrait.jpg'),
          audio: flags['audio'] ?? join(media, 'speech.wav'),
          loadTimeoutS: Number(flags['load-timeout'] ?? 600),
          env,
        },
        createGstLoader(loadConfig({ flags: {}, env }).pluginPath),
      );
      process.stdout.write((json ? JSON.stringify(report, null, 2) : formatModelReport(report)) + '\n');
      return report.ok ? 0 : 1;
    }
    const config = loadConfig({ flags, env: process.env });
    const report = await runDoctor(config, createGstLoader(config.pluginPath));
    const ok = report.ok && (!strict || report.checks.every((c) => c.ok));
    process.stdout.write((json ? JSON.stringify({ ...report, ok }, null, 2) : formatReport(report)) + '\n');
    return ok ? 0 : 1;
  },
};
