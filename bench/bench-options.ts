// Every bench's command line, one way: its flags declared once, each with its default, its range
// and a line of help. `--help` prints how to run it, every flag with its default, and what it
// measures (the script's own header comment, so the two cannot drift); a bad flag is one line
// naming the flag and the fix, exit code 2, before anything is built or sent.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError } from '../src/config-error.js';

/** One flag: its help line, the default as the help shows it, and how its text becomes a value. */
export interface Flag<T> {
  readonly help: string;
  /** What the value is called in the help (N, S, DIR); undefined for a switch, which takes none. */
  readonly placeholder: string | undefined;
  readonly initial: T;
  readonly shownDefault: string;
  /** A value that works, for error messages. */
  readonly example: string;
  /** The value `text` stands for, or a RangeError saying what the flag takes. */
  read(text: string): T;
}

type Flags = Record<string, Flag<unknown>>;
export type FlagValues<S extends Flags> = { -readonly [K in keyof S]: S[K] extends Flag<infer T> ? T : never };

/** A bench's command line: its module (import.meta.url) and its flags. */
export interface BenchCommand<S extends Flags> {
  readonly module: string;
  readonly flags: S;
  /** Other ways to run it than node and npm, e.g. `vxroute bench`. */
  readonly alsoRunAs?: string;
}

interface Range<D> {
  min: number;
  max: number;
  default: D;
  /** With no default: what happens when the flag is not given, as the help says it. */
  unset?: string;
}

function numberFlag(help: string, placeholder: string, range: Range<number | undefined>, whole: boolean): Flag<number | undefined> {
  return {
    help,
    placeholder,
    initial: range.default,
    shownDefault: range.default === undefined ? (range.unset ?? 'none') : String(range.default),
    example: String(range.default ?? range.min),
    read(text) {
      const n = text.trim() === '' ? NaN : Number(text);
      if (!((whole ? Number.isInteger(n) : Number.isFinite(n)) && n >= range.min && n <= range.max)) {
        throw new RangeError(`"${text}" must be a ${whole ? 'whole number' : 'number'} from ${range.min} to ${range.max}`);
      }
      return n;
    },
  };
}

/** A whole number within [min, max]. */
export function whole(help: string, range: Range<number>, placeholder?: string): Flag<number>;
export function whole(help: string, range: Range<undefined> & { unset: string }, placeholder?: string): Flag<number | undefined>;
export function whole(help: string, range: Range<number | undefined>, placeholder = 'N'): Flag<number | undefined> {
  return numberFlag(help, placeholder, range, true);
}

/** A number within [min, max], fractions allowed (seconds, shares). */
export function decimal(help: string, range: Range<number>, placeholder = 'X'): Flag<number> {
  return numberFlag(help, placeholder, range, false) as Flag<number>;
}

/** Choices longer than this are named in the help line, not in the placeholder. */
const SHORT_PLACEHOLDER = 16;

/** One of a few names. */
export function oneOf<const C extends string>(help: string, choices: readonly C[], initial: C): Flag<C>;
export function oneOf<const C extends string>(help: string, choices: readonly C[], initial: undefined, unset: string): Flag<C | undefined>;
export function oneOf<const C extends string>(help: string, choices: readonly C[], initial: C | undefined, unset?: string): Flag<C | undefined> {
  const listed = choices.join('|');
  const short = listed.length <= SHORT_PLACEHOLDER && !listed.includes(' ');
  return {
    help: short ? help : `${help}: ${choices.join(', ')}`,
    placeholder: short ? listed : 'NAME',
    initial,
    shownDefault: initial ?? unset ?? 'none',
    example: initial ?? choices[0],
    read(text) {
      if (!(choices as readonly string[]).includes(text)) throw new RangeError(`"${text}" must be one of ${choices.join(', ')}`);
      return text as C;
    },
  };
}

/** Some of a few names, comma-separated, at least one. */
export function someOf<const C extends string>(help: string, choices: readonly C[], initial: readonly C[]): Flag<C[]> {
  return {
    help,
    placeholder: 'NAME,...',
    initial: [...initial],
    shownDefault: initial.join(','),
    example: choices.slice(0, 2).join(','),
    read(text) {
      const named = text.split(',').map((v) => v.trim()).filter((v) => v !== '');
      const unknown = named.filter((v) => !(choices as readonly string[]).includes(v));
      if (unknown.length > 0) throw new RangeError(`${unknown.map((v) => `"${v}"`).join(', ')} unknown; choose from ${choices.join(', ')}`);
      if (named.length === 0) throw new RangeError(`names none; choose from ${choices.join(', ')}`);
      return named as C[];
    },
  };
}

/** Free text: a path, a revision, an event name. */
export function text(help: string, placeholder: string, initial: string): Flag<string>;
export function text(help: string, placeholder: string, initial: undefined, unset: string): Flag<string | undefined>;
export function text(help: string, placeholder: string, initial: string | undefined, unset?: string): Flag<string | undefined> {
  return {
    help,
    placeholder,
    initial,
    shownDefault: initial ?? unset ?? 'none',
    example: initial ?? placeholder,
    read(value) {
      if (value === '') throw new RangeError('is empty');
      return value;
    },
  };
}

/** On when given, off by default. */
export function toggle(help: string): Flag<boolean> {
  return { help, placeholder: undefined, initial: false, shownDefault: 'off', example: '', read: () => true };
}

const HELP = '--help';

/** The flags' values from argv, or a ConfigError naming the flag and the fix (`--help` is the caller's). */
export function parseBenchFlags<S extends Flags>(command: BenchCommand<S>, argv: readonly string[]): FlagValues<S> {
  const { flags } = command;
  const values = Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, f.initial])) as Record<string, unknown>;
  const options = Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, { type: f.placeholder === undefined ? ('boolean' as const) : ('string' as const) }]));
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const known = Object.keys(flags).map((n) => `--${n}`).join(', ');
  for (const t of tokens) {
    if (t.kind === 'positional') throw new ConfigError(`"${t.value}"`, `unexpected argument: ${known === '' ? 'this bench takes none' : `every option is a flag (${known})`} (see ${HELP})`);
    if (t.kind !== 'option') continue;
    const flag = Object.hasOwn(flags, t.name) && t.rawName.startsWith('--') ? flags[t.name] : undefined;
    if (!flag) throw new ConfigError(t.rawName, `no such flag; ${known === '' ? 'this bench takes none' : `the flags are ${known}`} (see ${HELP})`);
    const example = `e.g. ${t.rawName} ${flag.example}`;
    if (flag.placeholder === undefined) {
      if (t.value !== undefined) throw new ConfigError(t.rawName, `takes no value: write ${t.rawName} alone`);
    } else if (t.value === undefined || (!t.inlineValue && t.value.startsWith('--'))) {
      throw new ConfigError(t.rawName, `needs a value, ${example}`);
    }
    try {
      values[t.name] = flag.read(t.value ?? '');
    } catch (err) {
      throw new ConfigError(t.rawName, `${(err as Error).message} (${example})`, { cause: err });
    }
  }
  return values as FlagValues<S>;
}

/** The bench's source, from dist/bench/ and from bench/ alike (the compiler drops a header above an `import type`). */
function sourceOf(module: string): URL {
  const file = basename(fileURLToPath(module)).replace(/\.js$/, '.ts');
  return new URL(module.includes('/dist/') ? `../../bench/${file}` : `./${file}`, module);
}

/** The leading `//` comment of a bench's source: what it measures, in its author's words. */
function headerComment(module: string): string {
  const lines = readFileSync(sourceOf(module), 'utf8').split('\n');
  const header: string[] = [];
  for (const line of lines) {
    if (!line.startsWith('//')) break;
    header.push(line.replace(/^\/\/ ?/, ''));
  }
  return header.join('\n');
}

/** The npm scripts that run this module (package.json beside dist/ or beside bench/). */
function npmScripts(module: string): string[] {
  const file = basename(fileURLToPath(module)).replace(/\.ts$/, '.js');
  const pkg = new URL(module.includes('/dist/') ? '../../package.json' : '../package.json', module);
  const scripts = (JSON.parse(readFileSync(pkg, 'utf8')) as { scripts: Record<string, string> }).scripts;
  return Object.entries(scripts).filter(([, run]) => run.includes(`dist/bench/${file}`)).map(([name]) => name);
}

/** Help lines fit a terminal of this width. */
const HELP_COLUMNS = 100;

/** `words` in lines of at most `columns` (a longer word keeps a line of its own). */
function wrap(words: string[], columns: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line !== '' && line.length + 1 + word.length > columns) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}

/** `--help`'s text: how to run it, every flag with its default, then what it measures. */
export function benchUsage<S extends Flags>(command: BenchCommand<S>): string {
  const file = basename(fileURLToPath(command.module)).replace(/\.ts$/, '.js');
  const ways = [...(command.alsoRunAs ? [command.alsoRunAs] : []), ...npmScripts(command.module).map((s) => `npm run ${s} --`), `node dist/bench/${file}`];
  // The default stays whole on one line: one word to the wrap.
  const rows: [string, string[]][] = Object.entries(command.flags).map(([name, f]) => [`--${name}${f.placeholder === undefined ? '' : ` ${f.placeholder}`}`, [...f.help.split(' '), `(default: ${f.shownDefault})`]]);
  rows.push(['-h, --help', 'print this help and exit'.split(' ')]);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const wrapped = (left: string, right: string[]): string[] => wrap(right, HELP_COLUMNS - 2 - width).map((line, i) => `  ${(i === 0 ? left : '').padEnd(width)}${line}`);
  return [
    `Usage: ${ways[0]} [options]`,
    ...ways.slice(1).map((w) => `   or: ${w} [options]`),
    '',
    'Options:',
    ...rows.flatMap(([left, right]) => wrapped(left, right)),
    '',
    headerComment(command.module),
    '',
  ].join('\n');
}

/**
 * A bench script's flags from its own argv: with --help, the help on stdout and exit 0; with a bad
 * flag, one line on stderr and exit 2. Call it before building anything.
 */
export function benchFlags<S extends Flags>(command: BenchCommand<S>, argv: readonly string[] = process.argv.slice(2)): FlagValues<S> {
  const name = `bench/${basename(fileURLToPath(command.module)).replace(/\.[jt]s$/, '')}`;
  if (argv.includes(HELP) || argv.includes('-h')) {
    process.stdout.write(benchUsage(command));
    process.exit(0);
  }
  try {
    return parseBenchFlags(command, argv);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${name}: ${err.message}\n`);
    process.exit(2);
  }
}
