// DIR/serve.pid: which process serves a data directory, so that an offline tool (backup
// restore) refuses to swap the directory from under a running manager. The file holds the
// pid and the process's start time (from /proc), so a pid reused by an unrelated process
// after a crash does not read as a running manager.
import { readFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';

import { writeFileAtomically } from '../../common/files.js';

export const PID_FILE = 'serve.pid';

/** Field 22 of /proc/PID/stat (clock ticks after boot), or '' where /proc does not say. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes this process's pid file; the returned function removes it if it is still ours. */
export function claimPidFile(dataDir: string): () => void {
  const file = path.join(dataDir, PID_FILE);
  const mine = `${process.pid} ${startTime(process.pid)}\n`;
  writeFileAtomically(file, mine, 0o644);
  return () => {
    try {
      // Another manager started on the same directory since then owns the file now.
      if (readFileSync(file, 'utf8') === mine) unlinkSync(file);
    } catch {
      // Gone already: nothing to release.
    }
  };
}

/** The pid of the manager serving `dataDir`, if one is. */
export function servingPid(dataDir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(dataDir, PID_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const [pidText = '', started = ''] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  const now = startTime(pid);
  return started === '' || now === '' || now === started ? pid : undefined;
}
