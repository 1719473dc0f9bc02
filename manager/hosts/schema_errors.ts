// What hosts send (status reports, event batches) is checked with ajv; a refusal names the
// first bad field as "POINTER: what is wrong", in words rather than ajv's own.
import type { ErrorObject } from 'ajv';

const TYPE_NAMES: Record<string, string> = {
  object: 'an object',
  array: 'an array',
  string: 'a string',
  integer: 'a whole number',
  boolean: 'true or false',
};

const escapePointer = (name: string): string => name.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * Ajv's error (compiled with `verbose`, for the parent schema) as "POINTER: what is wrong";
 * `prefix` goes in front of ajv's pointer, and `items` words a minItems/maxItems refusal
 * where the array's own terms say it better than "at most N entries".
 */
export function explainSchemaError(
  error: ErrorObject,
  prefix = '',
  items?: (error: ErrorObject) => string,
): string {
  const params = error.params as Record<string, unknown>;
  const parent = (error.parentSchema ?? {}) as {
    title?: string;
    minimum?: number;
    maximum?: number;
    nullable?: boolean;
  };
  const at = prefix + error.instancePath;
  switch (error.keyword) {
    case 'required':
      return `${at}/${escapePointer(String(params.missingProperty))}: is missing`;
    case 'additionalProperties':
      return `${at}/${escapePointer(String(params.additionalProperty))}: is not a field here`;
    case 'type':
      return (
        `${at || '/'}: must be ${TYPE_NAMES[String(params.type)] ?? String(params.type)}` +
        `${parent.nullable ? ' or null' : ''}${parent.title ? ` (${parent.title})` : ''}`
      );
    case 'enum':
      return `${at}: must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
    case 'format':
      return `${at}: must be ${params.format === 'uuid' ? 'a UUID' : 'an ISO 8601 date and time with a time zone'}`;
    case 'minimum':
    case 'maximum':
      return `${at}: must be ${parent.title ?? 'a number'} from ${parent.minimum} to ${parent.maximum}`;
    case 'maxLength':
      return `${at}: must be at most ${String(params.limit)} characters long`;
    case 'pattern':
      return `${at}: must be ${parent.title ?? 'valid'}`;
    case 'minItems':
    case 'maxItems':
      if (items) return `${at}: ${items(error)}`;
      if (error.keyword === 'maxItems') {
        return `${at}: must hold at most ${Number(params.limit).toLocaleString('en-US')} entries`;
      }
      return `${at || '/'}: ${error.message ?? 'is not valid'}`;
    default:
      return `${at || '/'}: ${error.message ?? 'is not valid'}`;
  }
}
