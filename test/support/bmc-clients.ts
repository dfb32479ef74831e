// The real BMC clients the tests run: ipmitool, FreeIPMI and sushy (through sushy-client.py,
// with Debian's /usr/bin/python3), as child processes whose exit code and output are kept.
import { execFile } from 'node:child_process';
import { join } from 'node:path';

export interface ToolRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `file` and resolves (never rejects) with its exit code and output. */
export function runTool(
  file: string,
  args: readonly string[],
  input?: string,
  env?: NodeJS.ProcessEnv,
): Promise<ToolRun> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      [...args],
      { env, timeout: 60_000, maxBuffer: 4 << 20 },
      (error, stdout, stderr) => {
        resolve({
          code: error ? Number((error as { code?: number }).code ?? 1) : 0,
          stdout,
          stderr,
        });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The system Python, which has python3-sushy (a pyenv python on PATH may not). */
export const SYSTEM_PYTHON = '/usr/bin/python3';
const sushyScript = join(import.meta.dirname, 'sushy-client.py');

/** The environment without CA bundle overrides: requests lets REQUESTS_CA_BUNDLE beat verify=. */
export function clientEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'SSL_CERT_FILE', 'SSL_CERT_DIR'])
    delete env[key];
  return env;
}

/** One sushy-client.py request (see its docstring for the steps). */
export interface SushyRequest {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly auth: 'basic' | 'session';
  readonly verify: string | false;
  readonly system: string | null;
  readonly steps: ReadonlyArray<readonly (string | null)[]>;
}

export interface SushyAnswer {
  readonly results: unknown[];
  readonly error?: string;
  readonly message?: string;
  readonly status?: number | null;
}

/** Drives a Redfish service with sushy; throws when the script itself fails. */
export async function sushy(req: SushyRequest): Promise<SushyAnswer> {
  const r = await runTool(SYSTEM_PYTHON, [sushyScript], JSON.stringify(req), clientEnv());
  if (r.code !== 0) throw new Error(`sushy-client.py exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as SushyAnswer;
}
