// Builds test/gso-refusal.c (a kernel that refuses UDP GSO with EIO, see there) and switches the
// refusal on and off for the processes started with its environment.
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export class GsoRefusal {
  private constructor(
    /** Environment for a process that should see the refusal: LD_PRELOAD and the control file. */
    readonly env: NodeJS.ProcessEnv,
    private readonly control: string,
  ) {}

  /** Compiles the shim into `dir` (a test's scratch directory). */
  static async build(dir: string): Promise<GsoRefusal> {
    const lib = join(dir, 'gso-refusal.so');
    const source = fileURLToPath(new URL('./gso-refusal.c', import.meta.url));
    await execFileAsync('cc', ['-shared', '-fPIC', '-O1', '-Wall', '-o', lib, source, '-ldl']);
    const control = join(dir, 'gso-refuse');
    return new GsoRefusal({ ...process.env, LD_PRELOAD: lib, VXROUTE_TEST_GSO_REFUSE: control }, control);
  }

  /** Refuses GSO messages to these underlay families from now on (as `tx off` did before Linux 6.11). */
  refuse(families: (4 | 6)[]): Promise<void> {
    return writeFile(this.control, families.join(''));
  }

  /** Lets every GSO message through again (as `tx on`). */
  allow(): Promise<void> {
    return rm(this.control, { force: true });
  }
}
