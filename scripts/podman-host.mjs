// @ts-check
// What podman needs on this kind of host to run a container at all (docs/decisions.md, "The
// image, built with podman"): shared by `npm run image` and test/image.test.ts.
import { readFileSync, statfsSync } from 'node:fs';

const CGROUP2_SUPER_MAGIC = 0x63677270; // linux/magic.h

/**
 * podman's global flags: runc where cgroups are v1 or hybrid (crun refuses a hybrid hierarchy:
 * "cgroups in hybrid mode not supported"), podman's default runtime on a pure cgroup v2 host.
 * @returns {string[]}
 */
export function podmanGlobalArgs() {
  return statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC ? [] : ['--runtime', 'runc'];
}

/**
 * `--ulimit` flags for `podman run`: podman asks for nofile 1048576 and nproc 4194304 as root,
 * which a host with lower hard limits and no CAP_SYS_RESOURCE refuses (setrlimit: EPERM). Then the
 * container gets this process's nofile and buildah's default nproc (32768), never more than here.
 * @returns {string[]}
 */
export function runLimitArgs() {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const hard = (/** @type {string} */ name) => {
    const value = new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits)?.[1];
    return value === undefined || value === 'unlimited' ? Infinity : Number(value);
  };
  const nofile = Math.min(hard('Max open files'), 1048576);
  const nproc = Math.min(hard('Max processes'), 32768);
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
}
