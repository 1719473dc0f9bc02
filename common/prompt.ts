// A secret typed by a person: read without echo when standard input is a terminal (raw
// mode, backspace honoured), else the first line of whatever is piped in. Ctrl-C gives
// undefined, so the caller says "cancelled" in its own terms.
export async function promptSecret(question: string): Promise<string | undefined> {
  const input = process.stdin;
  process.stderr.write(question);
  if (!input.isTTY) {
    let text = '';
    for await (const chunk of input) {
      text += (chunk as Buffer).toString('utf8');
      if (text.includes('\n')) break;
    }
    return text.split(/\r?\n/)[0] ?? '';
  }
  input.setRawMode(true);
  try {
    let line = '';
    for await (const chunk of input) {
      for (const char of (chunk as Buffer).toString('utf8')) {
        if (char === '\r' || char === '\n') return line;
        if (char === '\u0003') return undefined;
        line = char === '\u007f' ? line.slice(0, -1) : line + char;
      }
    }
    return line;
  } finally {
    input.setRawMode(false);
    input.pause();
    process.stderr.write('\n');
  }
}
