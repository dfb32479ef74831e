// A guest's serial console log, read as lines. Two writers share the one UART: programs
// writing to the tty (systemd's status lines, cloud-init, our seed's `printf >>/dev/ttyS0`)
// and the kernel's console, which prints each log record whole with the UART's interrupts
// off (journald forwards cloud-init's output there too, as `[  72.775676] cloud-init[443]: …`).
// So a kernel record can land inside a line a program was writing, at any character, and
// split it in two: `MAASLAB-STEP seed-lo[  72.77] cloud-init[443]: …\naded failed (exit 127)`.
// consoleLines puts each such record on a line of its own and joins the interrupted line
// back together, so that a test finds both writers' lines whole, whatever the timing.

/** A kernel log record as the console prints it: `[` seconds `.` microseconds `] `. */
const KERNEL_RECORD = /\[\s*\d+\.\d{6}\] /;

/** The lines of a serial log: terminal escapes and CRs removed, kernel records untangled. */
export function consoleLines(log: string): string[] {
  const text = log
    // eslint-disable-next-line no-control-regex -- ANSI escapes are exactly what it removes
    .replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '')
    .replace(/\r\n?/g, '\n');
  const lines: string[] = [];
  /** What a program had written of a line before kernel records interrupted it. */
  let interrupted = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    const at = line.search(KERNEL_RECORD);
    if (at === 0) {
      lines.push(line);
    } else if (at > 0) {
      lines.push(line.slice(at));
      interrupted += line.slice(0, at);
    } else {
      lines.push(interrupted + line);
      interrupted = '';
    }
  }
  if (interrupted) lines.push(interrupted);
  return lines;
}
