/**
 * The fault suite as a report: `npm run faults [-- --bystanders N] [--only a,b]`. Each fault hits one session
 * while N bystander viewers (headless Chromium) stay connected; prints one row per fault (see scenarios.ts).
 * Exit code 1 when a fault did not end its session, ended another, or took the server down.
 */
import { FAULTS, formatTable, runFaults } from './scenarios.js';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const bystanders = Number(flag('bystanders') ?? 2);
const only = flag('only')?.split(',').filter(Boolean);
if (only?.some((f) => !(FAULTS as readonly string[]).includes(f))) {
  console.error(`--only takes: ${FAULTS.join(',')}`);
  process.exit(2);
}

const rows = await runFaults({ bystanders, ...(only ? { only } : {}), log: (l) => console.error(`[faults] ${l}`) });
console.log(formatTable(rows));
const bad = rows.filter((r) => !r.skipped && (!r.reason || !r.serverUp || r.othersOpen.split('/')[0] !== r.othersOpen.split('/')[1]));
process.exit(bad.length ? 1 : 0);
