// CPU time from /proc: of a whole process (all its threads) or of one thread, so that the fan-out's CPU
// can be split between the manager, the simulated hosts' openings and the rest of this process.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of the utime and stime fields (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** User + system CPU seconds in a stat file: /proc/<pid>/stat, or /proc/<pid>/task/<tid>/stat for one thread. */
export function statCpuSeconds(statFile: string): number {
  const stat = readFileSync(statFile, 'utf8');
  // Fields after the command name (which may hold spaces, hence the last ')'): utime is the 14th field
  // of the line, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  if (!Number.isFinite(seconds)) throw new Error(`no CPU times in ${statFile}`);
  return seconds;
}

export const processCpuSeconds = (pid: number): number => statCpuSeconds(`/proc/${pid}/stat`);

/** CPU seconds of thread `tid` of this process. */
export const threadCpuSeconds = (tid: number): number => statCpuSeconds(`/proc/self/task/${tid}/stat`);

/** The id Linux knows the calling thread by (a worker thread has its own). */
export function currentThreadId(): number {
  return Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ', 1)[0]);
}
