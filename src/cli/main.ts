#!/usr/bin/env node
// vxroute's command line: one subcommand per file, errors as one clear line.
import { existsSync } from 'node:fs';
import { ConfigError } from '../config-error.js';

const USAGE = `Usage: vxroute <command> [options]

Commands:
  run     forward pod traffic over VXLAN (see: vxroute run --help)
  top     live per-peer rates, drops and worker balance of a running daemon
  trace   sampled packets of a running daemon, with what it did with each
  fdb     the forwarding database of a daemon in switch mode
  policy  explain why NetworkPolicy allows or denies a connection between two pods
  uninstall  remove what vxroute put on this node (device, routes, CNI config, NAT table)
  bench   kernel VXLAN, vxroute (router and switch), a naive forwarder and no tunnel compared
          (root, from a git clone)
  demo    build a throwaway namespace cluster on this machine and show vxroute working
          (root, from a git clone)

Run \`vxroute <command> --help\` for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  switch (command) {
    case 'run': {
      if (!wantsHelp) (await import('./memory-restart.js')).restartWithMemorySettings(); // first: the fewer modules before it, the cheaper
      if (!wantsHelp) (await import('./old-generation.js')).keepOldGenerationClose();
      const { RUN_USAGE } = await import('./run-options.js');
      if (wantsHelp) return help(RUN_USAGE);
      const { runCommand } = await import('./run.js');
      return runCommand(rest);
    }
    case 'top': {
      const { TOP_USAGE, topCommand } = await import('./top.js');
      if (wantsHelp) return help(TOP_USAGE);
      return topCommand(rest);
    }
    case 'trace': {
      const { TRACE_USAGE, traceCommand } = await import('./trace.js');
      if (wantsHelp) return help(TRACE_USAGE);
      return traceCommand(rest);
    }
    case 'fdb': {
      const { FDB_USAGE, fdbCommand } = await import('./fdb.js');
      if (wantsHelp) return help(FDB_USAGE);
      return fdbCommand(rest);
    }
    case 'policy': {
      const { POLICY_USAGE, policyCommand } = await import('./policy.js');
      if (wantsHelp) return help(POLICY_USAGE);
      return policyCommand(rest);
    }
    case 'uninstall': {
      const { UNINSTALL_USAGE, uninstallCommand } = await import('./uninstall.js');
      if (wantsHelp) return help(UNINSTALL_USAGE);
      return uninstallCommand(rest);
    }
    case 'bench':
    case 'demo':
      return sourceTreeCommand(SOURCE_TREE_COMMANDS[command], rest, wantsHelp);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      return help(USAGE);
    default:
      process.stderr.write(`vxroute: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

/**
 * Commands that drive the namespace test bed (src/lab/, bench/). The image leaves both out, so
 * they are loaded by a path the compiler does not follow, and only when asked for.
 */
const SOURCE_TREE_COMMANDS = {
  demo: { name: 'demo', path: '../lab/demo.js', usage: 'DEMO_USAGE', run: 'demoCommand' },
  bench: { name: 'bench', path: '../../bench/compare.js', usage: 'BENCH_USAGE', run: 'benchCommand' },
} as const;

async function sourceTreeCommand(command: (typeof SOURCE_TREE_COMMANDS)[keyof typeof SOURCE_TREE_COMMANDS], argv: string[], wantsHelp: boolean): Promise<number> {
  const url = new URL(command.path, import.meta.url);
  if (!existsSync(url)) {
    process.stderr.write(`vxroute ${command.name} is part of the source tree, not the image: run it from a git clone with npm run ${command.name}\n`);
    return 2;
  }
  const entry = (await import(url.href)) as Record<string, unknown>;
  if (wantsHelp) return help(entry[command.usage] as string);
  return (entry[command.run] as (argv: string[]) => Promise<number>)(argv);
}

function help(text: string): number {
  process.stdout.write(text);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as Error & { code?: string };
    process.stderr.write(`vxroute: ${e.message}\n`);
    process.exitCode = err instanceof ConfigError ? 2 : 1;
  },
);
