/** meter meters: the configured meters; exits 2 listing every problem when the config is invalid. */
import { Command } from 'commander';
import { smallTable, useColor } from '../output/table.js';
import { addConfigOption, loadMeters } from './common.js';

export function metersCommand(): Command {
  const cmd = new Command('meters').description('list the meters of the config (and check it)');
  addConfigOption(cmd);
  cmd
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  meter meters --config openmeter/config.yaml\n  meter meters --json')
    .action(async (flags: { config?: string; json?: boolean }) => {
      const { meters, file } = loadMeters(flags.config);
      if (flags.json) {
        process.stdout.write(JSON.stringify(meters) + '\n');
        return;
      }
      if (file === null) {
        process.stdout.write('no meter config (pass --config, set METER_CONFIG, or create ./meter.yaml); queries count events per type\n');
        return;
      }
      const rows = meters.map((m) => [m.slug, m.eventType ?? '*', m.aggregation, m.valueProperty ?? '', m.groupBy.map((g) => `${g.key}: ${g.path}`).join(', ')]);
      const t = await smallTable(['slug', 'eventType', 'aggregation', 'valueProperty', 'groupBy'], [], rows, useColor(process.stdout));
      process.stdout.write(`${file}: ${meters.length} meter${meters.length === 1 ? '' : 's'}\n${meters.length ? t : ''}`);
    });
  return cmd;
}
