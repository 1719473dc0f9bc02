// veild logs one line per event on stdout. Under systemd (JOURNAL_STREAM set) each line
// starts with its syslog priority, <3> to <7>, which journald turns into the entry's level.
export type Level = 'error' | 'warning' | 'info' | 'debug';

const PRIORITY: Record<Level, number> = { error: 3, warning: 4, info: 6, debug: 7 };

export type Log = (level: Level, message: string) => void;

export function makeLog(stream: NodeJS.WritableStream = process.stdout): Log {
  const journal = Boolean(process.env.JOURNAL_STREAM);
  return (level, message) => {
    const line = message.replace(/\n/g, ' ');
    stream.write(
      journal ? `<${PRIORITY[level]}>${line}\n` : `${new Date().toISOString()} ${level}: ${line}\n`,
    );
  };
}
