// A small Dockerfile reader: enough of the syntax to say what an image built from our
// Dockerfile runs, as whom, with what environment, and what it copies where. The OCI image
// that hack/build-image.sh builds without a container engine is checked against it
// (test/integration/deploy/image-oci.test.ts), so the two ways of building cannot drift.
// Pure: no I/O.

/** One instruction, its keyword upper-cased, its continuation lines joined. */
export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  /** The 1-based line where the instruction starts. */
  readonly line: number;
}

/** A `FROM` and the instructions up to the next one. */
export interface Stage {
  /** The base, with ARG defaults substituted. */
  readonly from: string;
  readonly name?: string;
  readonly instructions: readonly Instruction[];
}

/** What `COPY [--from=STAGE] [--chown=..] SRC... DEST` says. */
export interface Copy {
  readonly from?: string;
  readonly chown?: string;
  readonly sources: readonly string[];
  readonly dest: string;
}

/** The configuration a stage gives its image, as an OCI image config spells it. */
export interface StageConfig {
  readonly user?: string;
  readonly workingDir?: string;
  /** The variables this Dockerfile sets; the base image's own (PATH, ...) are not known. */
  readonly env: Readonly<Record<string, string>>;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** `8080/tcp`, as in the config's ExposedPorts. */
  readonly exposedPorts: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly copies: readonly Copy[];
}

/** Splits a Dockerfile into instructions: comments and blank lines dropped, `\` joined. */
export function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { line: number; parts: string[] } | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    // Comments are whole lines, also inside a continued instruction.
    if (/^\s*#/.test(line) || (pending === undefined && line.trim() === '')) return;
    const continued = /\\\s*$/.test(line);
    const body = continued ? line.replace(/\\\s*$/, '') : line;
    pending ??= { line: i + 1, parts: [] };
    pending.parts.push(body.trim());
    if (continued) return;
    const joined = pending.parts.filter((p) => p !== '').join(' ');
    const m = /^(\S+)\s*(.*)$/.exec(joined);
    if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: pending.line });
    pending = undefined;
  });
  return out;
}

/** Replaces `${NAME}` and `$NAME` by the ARG defaults given. */
function substitute(value: string, args: Readonly<Record<string, string>>): string {
  return value.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (whole, a?: string, b?: string) => args[a ?? b!] ?? whole,
  );
}

/** The stages, in order, with the global ARGs (those before the first FROM) substituted in FROM. */
export function stages(text: string): Stage[] {
  const args: Record<string, string> = {};
  const out: { from: string; name?: string; instructions: Instruction[] }[] = [];
  for (const ins of instructions(text)) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      out.push({ from: substitute(m[1]!, args), ...(m[2] && { name: m[2] }), instructions: [] });
    } else if (out.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before FROM`);
      const m = /^(\w+)(?:=(.*))?$/.exec(ins.args.trim());
      if (m?.[2] !== undefined) args[m[1]!] = unquote(m[2]);
    } else {
      out.at(-1)!.instructions.push(ins);
    }
  }
  return out;
}

function unquote(s: string): string {
  return /^"(.*)"$/.test(s) ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s;
}

/** `KEY=value KEY2="a b"` (or the legacy `KEY value`) as pairs, for ENV and LABEL. */
export function keyValues(args: string): [string, string][] {
  const pairs: [string, string][] = [];
  const legacy = /^([^\s=]+)\s+(.*)$/.exec(args);
  if (legacy && !/^[^\s=]+=/.test(args)) return [[legacy[1]!, legacy[2]!]];
  const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (const [, k, v] of args.matchAll(re)) pairs.push([unquote(k!), unquote(v!)]);
  return pairs;
}

/** ENTRYPOINT/CMD: the exec form as is; the shell form as `/bin/sh -c ...`. */
export function command(args: string): string[] {
  const trimmed = args.trim();
  if (trimmed.startsWith('[')) {
    const parsed: unknown = JSON.parse(trimmed);
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string'))
      throw new Error(`not an exec form: ${args}`);
    return parsed as string[];
  }
  return ['/bin/sh', '-c', trimmed];
}

function copy(args: string): Copy {
  const words = args.trim().split(/\s+/);
  let from: string | undefined;
  let chown: string | undefined;
  while (words[0]?.startsWith('--')) {
    const [flag, value] = words.shift()!.slice(2).split('=', 2);
    if (flag === 'from') from = value;
    else if (flag === 'chown') chown = value;
  }
  const dest = words.pop();
  if (dest === undefined || words.length === 0) throw new Error(`cannot read COPY ${args}`);
  return { ...(from && { from }), ...(chown && { chown }), sources: words, dest };
}

/**
 * What a stage (by default the last, the image that is shipped) configures itself: USER,
 * WORKDIR (a relative one resolved against the previous), ENV, ENTRYPOINT, CMD, EXPOSE,
 * LABEL and COPY. As in Docker, a later ENTRYPOINT resets an earlier CMD of the same stage.
 */
export function stageConfig(text: string, stage?: string): StageConfig {
  const all = stages(text);
  const s = stage === undefined ? all.at(-1) : all.find((x) => x.name === stage);
  if (!s) throw new Error(`no stage ${stage ?? '(last)'}`);
  let user: string | undefined;
  let workingDir: string | undefined;
  let entrypoint: string[] | undefined;
  let cmd: string[] | undefined;
  const env: Record<string, string> = {};
  const labels: Record<string, string> = {};
  const exposedPorts: string[] = [];
  const copies: Copy[] = [];
  for (const ins of s.instructions) {
    switch (ins.keyword) {
      case 'USER':
        user = ins.args.trim();
        break;
      case 'WORKDIR': {
        const dir = substitute(ins.args.trim(), env);
        workingDir = dir.startsWith('/') ? dir : `${workingDir ?? ''}/${dir}`;
        break;
      }
      case 'ENV':
        for (const [k, v] of keyValues(ins.args)) env[k] = substitute(v, env);
        break;
      case 'LABEL':
        for (const [k, v] of keyValues(ins.args)) labels[k] = v;
        break;
      case 'EXPOSE':
        for (const p of ins.args.trim().split(/\s+/))
          exposedPorts.push(p.includes('/') ? p : `${p}/tcp`);
        break;
      case 'ENTRYPOINT':
        entrypoint = command(ins.args);
        cmd = undefined;
        break;
      case 'CMD':
        cmd = command(ins.args);
        break;
      case 'COPY':
      case 'ADD':
        copies.push(copy(ins.args));
        break;
    }
  }
  return {
    ...(user !== undefined && { user }),
    ...(workingDir !== undefined && { workingDir }),
    env,
    ...(entrypoint && { entrypoint }),
    ...(cmd && { cmd }),
    exposedPorts,
    labels,
    copies,
  };
}

/** The RUN instructions of a stage, each as its shell text. */
export function runs(text: string, stage: string): string[] {
  const s = stages(text).find((x) => x.name === stage);
  if (!s) throw new Error(`no stage ${stage}`);
  return s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
}
