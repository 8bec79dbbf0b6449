/**
 * A value (an attribute, an error's code) as a test's message or a printed span tree shows it:
 * a string, number, boolean, null or undefined as String() writes it, anything else (an array,
 * an object) as JSON, never as `[object Object]`.
 */
export function show(value: unknown): string {
  if (
    value === null ||
    value === undefined ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    typeof value === 'bigint'
  )
    return String(value);
  return String(JSON.stringify(value));
}
