#!/usr/bin/env node
// vxroute's command line: one subcommand per file, errors as one clear line.
import { ConfigError } from '../config-error.js';

const USAGE = `Usage: vxroute <command> [options]

Commands:
  run     forward pod traffic over VXLAN (see: vxroute run --help)
  top     live per-peer rates, drops and worker balance of a running daemon
  trace   sampled packets of a running daemon, with what it did with each
  fdb     the forwarding database of a daemon in switch mode
  uninstall  remove what vxroute put on this node (device, routes, CNI config, NAT table)
  bench   kernel VXLAN, vxroute (router and switch), a naive forwarder and no tunnel compared (root)
  demo    build a throwaway namespace cluster on this machine and show vxroute working (root)

Run \`vxroute <command> --help\` for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  switch (command) {
    case 'run': {
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
    case 'uninstall': {
      const { UNINSTALL_USAGE, uninstallCommand } = await import('./uninstall.js');
      if (wantsHelp) return help(UNINSTALL_USAGE);
      return uninstallCommand(rest);
    }
    case 'bench': {
      if (wantsHelp) return help(BENCH_USAGE);
      const { benchCommand } = await import('../../bench/compare.js');
      return benchCommand(rest);
    }
    case 'demo': {
      const { DEMO_USAGE, demoCommand } = await import('./demo.js');
      if (wantsHelp) return help(DEMO_USAGE);
      return demoCommand(rest);
    }
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

const BENCH_USAGE = `Usage: vxroute bench [--rounds N] [--seconds S] [--quick] [--out DIR]

Builds six two-node namespace clusters on this machine (kernel VXLAN as flannel configures it,
vxroute, the kernel's bridge + vxlan as one L2 segment, vxroute --mode switch, socat TUN-UDP,
plain routing) and measures TCP (1 and 4 streams), UDP 64/1400-byte packet
rates, ping p50/p99 and CPU per Gbit, as ratios to the kernel path; writes .md, .json and .svg
under DIR (default bench/results). Needs root, iperf3 and socat. --quick: 1 round of 1 s.
`;

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
