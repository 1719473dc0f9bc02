// Commander option parsers for numbers in a range, with the sentence a user sees on a bad one.
import { InvalidArgumentError } from 'commander';

export function numberIn(what: string, min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${what} is a number from ${min} to ${max}`);
    }
    return n;
  };
}
