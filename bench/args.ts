// What a benchmark's argument parser returns, and the one way every benchmark answers it.
export type Parsed<Options> =
  { kind: 'run'; options: Options } | { kind: 'help' } | { kind: 'error'; message: string };

/** Prints help or the error (exit code 2) and returns undefined, or returns the options to run with. */
export function optionsToRun<Options>(parsed: Parsed<Options>, help: string): Options | undefined {
  if (parsed.kind === 'help') {
    console.log(help);
    return undefined;
  }
  if (parsed.kind === 'error') {
    console.error(`${parsed.message}\n\n${help}`);
    process.exitCode = 2;
    return undefined;
  }
  return parsed.options;
}
