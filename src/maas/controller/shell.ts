// POSIX shell quoting for the values the seed writes into shell-readable files.

/**
 * Quotes `value` as one POSIX shell word that expands to exactly `value`: single quotes
 * around it, each single quote inside written as '\''. Inside single quotes nothing is
 * special to sh (no $, `, \, newline or glob), so hostile input stays data.
 * Throws a RangeError for a NUL character, which no shell word, argument or environment
 * value can hold.
 */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new RangeError('a shell word cannot contain a NUL character');
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * A line `NAME=<quoted value>` that `.` (source) in sh or bash turns back into the variable.
 * The name must be a portable shell identifier.
 */
export function shellAssignment(name: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new RangeError(`${JSON.stringify(name)} is not a shell variable name`);
  }
  return `${name}=${shellQuote(value)}`;
}
