/** CPU time of processes from /proc, grouped by role, for benchmarks (Linux only). */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';

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
  return treePss(root).total;
}

/** The same, split by Chromium process type (browser, renderer, gpu-process, utility…). */
export function treePss(root: number): { total: number; byType: Record<string, number> } {
  const procs = snapshot();
  const byType: Record<string, number> = {};
  let total = 0;
  for (const [pid, proc] of procs) {
    if (!descendantOf(procs, pid, root)) continue;
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      const mb = Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) / 1024;
      const type = /--type=([\w-]+)/.exec(proc.args)?.[1] ?? 'browser';
      byType[type] = (byType[type] ?? 0) + mb;
      total += mb;
    } catch {
      /* the process ended between the listing and the read */
    }
  }
  return { total, byType };
}

/** The root pid of a Chromium launched with a given fake-camera file. */
export function chromiumRootByFlag(flag: string): number {
  for (const p of snapshot().values()) if (p.args.includes(flag) && !p.args.includes('--type=')) return p.pid;
  return -1;
}

export interface ThreadTicks {
  name: string;
  cpuTicks: number;
  /** Of cpuTicks, those spent in the kernel (system time). */
  sysTicks: number;
  /** From /proc/…/schedstat: ns spent on a CPU, and ns spent runnable but waiting for one. */
  runNs: number;
  waitNs: number;
}

/** Chromium's thread names without their numbers (CrRendererMain, DedicatedWorker, WebRTC_W_and_N, ThreadPoolForegr…). */
const threadKind = (name: string) => name.replace(/\d+/g, '#');

/** CPU ticks and scheduler times of each thread of a process, keyed by thread id, with the thread's name. */
export function threadTicks(pid: number): Map<number, ThreadTicks> {
  const threads = new Map<number, ThreadTicks>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return threads;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const open = stat.indexOf('(');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      let runNs = 0;
      let waitNs = 0;
      try {
        [runNs = 0, waitNs = 0] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
      } catch {
        /* a kernel without schedstats */
      }
      threads.set(Number(tid), { name: stat.slice(open + 1, close), cpuTicks: Number(fields[11]) + Number(fields[12]), sysTicks: Number(fields[12]), runNs, waitNs });
    } catch {
      /* the thread ended between the listing and the read */
    }
  }
  return threads;
}

/**
 * Per-thread CPU use of one process between two readings, in % of one core,
 * grouped by thread name with numbers removed (Chromium names its threads:
 * CrRendererMain, DedicatedWorker, WebRTC_W_and_N, ThreadPoolForegr…).
 */
export function threadSplit(before: Map<number, ThreadTicks>, after: Map<number, ThreadTicks>, seconds: number): Record<string, number> {
  const split: Record<string, number> = {};
  for (const [tid, end] of after) {
    const name = threadKind(end.name);
    const start = before.get(tid)?.cpuTicks ?? 0;
    split[name] = (split[name] ?? 0) + ((end.cpuTicks - start) / TICKS_PER_SECOND / seconds) * 100;
  }
  const rounded = Object.entries(split)
    .map(([k, v]) => [k, Math.round(v)] as const)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(rounded);
}

/** A thread kind's time between two readings, in ms per second. */
export interface RunQueueTimes {
  onCpu: number;
  waiting: number;
  /** Of the time on a CPU, the part in the kernel (system time; clock-tick resolution). */
  inKernel: number;
}

/**
 * Per thread name, between two readings: ms per second on a CPU (and of it in
 * the kernel), and ms per second runnable but waiting for a CPU (the
 * scheduler's run queue). A thread that is busy by the clock but neither on a
 * CPU nor waiting for one was blocked (on a lock, another thread, another process).
 */
export function threadRunQueue(before: Map<number, ThreadTicks>, after: Map<number, ThreadTicks>, seconds: number): Record<string, RunQueueTimes> {
  const out: Record<string, RunQueueTimes> = {};
  for (const [tid, end] of after) {
    const name = threadKind(end.name);
    const start = before.get(tid);
    const entry = (out[name] ??= { onCpu: 0, waiting: 0, inKernel: 0 });
    entry.onCpu += (end.runNs - (start?.runNs ?? 0)) / 1e6 / seconds;
    entry.waiting += (end.waitNs - (start?.waitNs ?? 0)) / 1e6 / seconds;
    entry.inKernel += ((end.sysTicks - (start?.sysTicks ?? 0)) / TICKS_PER_SECOND / seconds) * 1000;
  }
  return Object.fromEntries(
    Object.entries(out)
      .map(([k, v]) => [k, { onCpu: Math.round(v.onCpu), waiting: Math.round(v.waiting), inKernel: Math.round(v.inKernel) }] as const)
      .filter(([, v]) => v.onCpu + v.waiting >= 10)
      .sort((a, b) => b[1].onCpu + b[1].waiting - (a[1].onCpu + a[1].waiting)),
  );
}

/** The pids of a Chromium's renderer processes (under its root pid). */
export function chromiumRenderers(root: number): number[] {
  const procs = snapshot();
  return [...procs.values()].filter((p) => p.args.includes('--type=renderer') && descendantOf(procs, p.pid, root)).map((p) => p.pid);
}

/**
 * Sets the nice value of every thread of one process (a process's nice value
 * is per thread on Linux, so each task is set; threads it starts later take
 * the value of the thread that starts them). Returns how many threads were
 * changed: threads that end meanwhile are skipped, and a process that ended counts 0.
 */
export function reniceProcess(pid: number, nice: number): number {
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  let changed = 0;
  for (const tid of tasks) {
    try {
      setPriority(Number(tid), nice);
      changed += 1;
    } catch {
      // The thread ended between the listing and the call.
    }
  }
  return changed;
}

/**
 * Sets the nice value of the autogroup `pid` belongs to. With autogroups on
 * (Debian's default) each session — and Playwright starts each browser in its
 * own — first gets an equal share of the CPU as a whole, so only the group's
 * own nice value changes what a browser gets against other sessions; the
 * threads' nice values share out the group's part among them. False where the
 * kernel has no autogroups or the value may not be changed.
 */
export function setAutogroupNice(pid: number, nice: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
    return true;
  } catch {
    return false;
  }
}

/**
 * Sets the nice value of every thread of every process under `root`, and of
 * the root's autogroup (see setAutogroupNice). Returns how many threads were
 * changed and whether the autogroup was.
 */
export function reniceTree(root: number, nice: number): { threads: number; autogroup: boolean } {
  const procs = snapshot();
  let changed = 0;
  for (const p of procs.values()) if (descendantOf(procs, p.pid, root)) changed += reniceProcess(p.pid, nice);
  return { threads: changed, autogroup: setAutogroupNice(root, nice) };
}
