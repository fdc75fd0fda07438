// Runs the controller under a memory limit, as its pod's
// resources.limits.memory does in a cluster: the container's cgroup limits
// memory, and Node sizes V8's heap from that limit (process.constrainedMemory())
// instead of from the host's RAM. Without it the bench would measure a
// controller sized for this 24 GiB machine, which no Deployment runs.
//
// The cgroup is a new top-level one of the memory controller (v1
// memory.limit_in_bytes, or v2 memory.max), named by the bench and removed at
// teardown; the controller starts inside it through cgexec (cgroup-tools), so
// V8 sees the limit from its first instruction. The bench itself stays where it is.
import fs from 'node:fs';
import path from 'node:path';

export interface MemoryCgroup {
  /** Directory in the cgroup filesystem. */
  dir: string;
  /** For cgexec -g: "memory:/name". */
  spec: string;
  limitBytes: number;
  /** True when pid is in this cgroup. */
  holds(pid: number): boolean;
  remove(): Promise<void>;
}

const CGEXEC = '/usr/bin/cgexec';

/** The memory controller's mount: v1 /sys/fs/cgroup/memory, else a v2 root that offers memory. */
function memoryRoot(): { root: string; limitFile: string } | string {
  if (fs.existsSync('/sys/fs/cgroup/memory/cgroup.procs')) return { root: '/sys/fs/cgroup/memory', limitFile: 'memory.limit_in_bytes' };
  const v2 = '/sys/fs/cgroup/cgroup.subtree_control';
  if (fs.existsSync(v2) && fs.readFileSync(v2, 'utf8').split(/\s+/).includes('memory')) return { root: '/sys/fs/cgroup', limitFile: 'memory.max' };
  return 'no memory cgroup controller mounted at /sys/fs/cgroup';
}

/** A new memory cgroup limited to limitBytes, or why it cannot be made here (not root, no controller, no cgexec). */
export function createMemoryCgroup(name: string, limitBytes: number): MemoryCgroup | string {
  if (!fs.existsSync(CGEXEC)) return `${CGEXEC} missing (apt-get install cgroup-tools)`;
  const m = memoryRoot();
  if (typeof m === 'string') return m;
  const dir = path.join(m.root, name);
  try {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, m.limitFile), String(limitBytes));
  } catch (err) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // never made
    }
    return `cannot create memory cgroup ${dir}: ${(err as Error).message}`;
  }
  return {
    dir,
    spec: `memory:/${name}`,
    limitBytes,
    holds(pid) {
      try {
        return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').includes(String(pid));
      } catch {
        return false;
      }
    },
    async remove() {
      // rmdir works only once the cgroup is empty (its process has exited).
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(dir);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
  };
}

/** The command line that runs argv inside the cgroup. */
export function inCgroup(cg: MemoryCgroup, file: string, args: string[]): [string, string[]] {
  return [CGEXEC, ['-g', cg.spec, file, ...args]];
}
