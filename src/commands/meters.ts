/** meter meters: the configured meters; exits 2 listing every problem when the config is invalid. */
import { Command } from 'commander';
import { renderMeters } from '../output/meters.js';
import { Sink } from '../output/sink.js';
import { useColor } from '../output/table.js';
import { addConfigOption, loadMeters } from './common.js';

export function metersCommand(): Command {
  const cmd = new Command('meters').description('list the meters of the config (and check it)');
  addConfigOption(cmd);
  cmd
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  meter meters --config openmeter/config.yaml\n  meter meters --json')
    .action(async (flags: { config?: string; json?: boolean }) => {
      const { meters, file } = loadMeters(flags.config);
      const sink = Sink.open(undefined);
      await renderMeters(meters, file, flags.json ?? false, sink, useColor(process.stdout));
      await sink.close();
    });
  return cmd;
}
