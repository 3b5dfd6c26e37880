/** CPU time of processes from /proc, grouped by role, for benchmarks (Linux only). */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

interface Proc {
  pid: number;
  ppid: number;
  cpuTicks: number;
  args: string;
}

function readProc(pid: number): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    const ppid = Number(fields[1]);
    const cpuTicks = Number(fields[11]) + Number(fields[12]);
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    return { pid, ppid, cpuTicks, args };
  } catch {
    return null;
  }
}

export function snapshot(): Map<number, Proc> {
  const procs = new Map<number, Proc>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const p = readProc(Number(entry));
    if (p) procs.set(p.pid, p);
  }
  return procs;
}

function descendantOf(procs: Map<number, Proc>, pid: number, root: number): boolean {
  let current = procs.get(pid);
  for (let depth = 0; current && depth < 32; depth++) {
    if (current.pid === root) return true;
    current = procs.get(current.ppid);
  }
  return false;
}

export type Classifier = (proc: Proc, procs: Map<number, Proc>) => string | null;

/** Per-role CPU use between two snapshots, in % of one core. */
export function cpuSplit(before: Map<number, Proc>, after: Map<number, Proc>, seconds: number, classify: Classifier): Record<string, number> {
  const split: Record<string, number> = {};
  for (const [pid, end] of after) {
    const role = classify(end, after);
    if (!role) continue;
    const start = before.get(pid)?.cpuTicks ?? 0;
    split[role] = (split[role] ?? 0) + ((end.cpuTicks - start) / TICKS_PER_SECOND / seconds) * 100;
  }
  for (const k of Object.keys(split)) split[k] = Math.round(split[k]!);
  return split;
}

/** Classifies Chromium's processes under a browser's root pid by their --type. */
export function chromiumRole(proc: Proc, procs: Map<number, Proc>, root: number, label: string): string | null {
  if (!descendantOf(procs, proc.pid, root)) return null;
  const type = /--type=([\w-]+)/.exec(proc.args)?.[1];
  if (!type) return `${label} browser`;
  if (type === 'gpu-process') return `${label} gpu`;
  if (type === 'renderer') return `${label} renderer`;
  if (type === 'utility') return `${label} utility`;
  return `${label} ${type}`;
}

/** Proportional set size (MB) of a process and all its descendants: memory without double-counting shared pages. */
export function treePssMb(root: number): number {
  const procs = snapshot();
  let kb = 0;
  for (const pid of procs.keys()) {
    if (!descendantOf(procs, pid, root)) continue;
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      kb += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
    } catch {
      /* the process ended between the listing and the read */
    }
  }
  return kb / 1024;
}

/** The root pid of a Chromium launched with a given fake-camera file. */
export function chromiumRootByFlag(flag: string): number {
  for (const p of snapshot().values()) if (p.args.includes(flag) && !p.args.includes('--type=')) return p.pid;
  return -1;
}
