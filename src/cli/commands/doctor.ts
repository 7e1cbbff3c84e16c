import { loadConfig } from '../../config/load.js';
import { configOptions } from '../../config/options.js';
import { formatReport, runDoctor } from '../../doctor/doctor.js';
import { createGstLoader } from '../../gst/loader.js';
import { parseArgs } from '../args.js';
import type { Command } from '../command.js';
import { configOptionsHelp } from '../help.js';

const HELP = `Usage: ditto-gst doctor [--json] [--strict] [server options]

Checks that this machine can run ditto-gst as configured: the GStreamer version, the native addon, the
dittotalkinghead plugin, every element of the configured session pipelines, and the elements behind uploads,
rendering, the client and live audio. Each missing element names the Debian package to install.

Exit code: 0 usable, 1 a required check failed (or any warning with --strict).

  --json     print the report as JSON
  --strict   treat warnings (optional features) as failures
Server options (they select the pipelines and plugin path checked):
${configOptionsHelp()}`;

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check GStreamer, the plugin and every element needed; name the Debian packages to install',
  help: () => HELP,
  async run(argv) {
    const booleans = new Set(['json', 'strict', ...configOptions().filter((o) => o.kind === 'boolean').map((o) => o.flag.slice(2))]);
    const { flags } = parseArgs(argv, booleans);
    const json = flags['json'] === 'true';
    const strict = flags['strict'] === 'true';
    delete flags['json'];
    delete flags['strict'];
    const config = loadConfig({ flags, env: process.env });
    const report = await runDoctor(config, createGstLoader(config.pluginPath));
    const ok = report.ok && (!strict || report.checks.every((c) => c.ok));
    process.stdout.write((json ? JSON.stringify({ ...report, ok }, null, 2) : formatReport(report)) + '\n');
    return ok ? 0 : 1;
  },
};
