// Generates src/libvirt/constants.ts from libvirt's public headers, so flags and
// enums are never typed by hand (house rule 9).
//
//   tsx hack/gen-libvirt-constants.ts [/usr/include/libvirt]
//
// Every `typedef enum { ... } virName;` becomes a const object `Name` (a trailing
// `Values` is dropped) whose members are go-libvirt style camel case with the
// enum's shared prefix removed: VIR_DOMAIN_UNDEFINE_MANAGED_SAVE in
// virDomainUndefineFlagsValues becomes `DomainUndefineFlags.ManagedSave`.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as prettier from 'prettier';

/** The default header folder (Debian's libvirt-dev). */
export const DEFAULT_HEADER_DIR = '/usr/include/libvirt';

/** Where the generated module lives, relative to the repository root. */
export const OUTPUT_PATH = 'src/libvirt/constants.ts';

// The admin, LXC and QEMU headers are separate libraries we do not link.
const SKIPPED_HEADERS = new Set(['libvirt-admin.h', 'libvirt-lxc.h', 'libvirt-qemu.h']);

/** Enums whose members also get a value-to-symbol table (used by LibvirtError). */
const SYMBOL_TABLES: Record<string, string> = {
  virErrorNumber: 'VIR_ERR_',
  virErrorDomain: 'VIR_FROM_',
  virErrorLevel: 'VIR_ERR_',
};

interface Member {
  cName: string;
  value: bigint;
  doc: string | undefined;
}

interface Enum {
  cName: string;
  header: string;
  line: number;
  members: Member[];
}

/** Replaces comments with spaces of the same length, so offsets stay valid. */
function blankComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '));
}

/** A tiny BigInt evaluator for the constant expressions libvirt uses in enums. */
function evaluate(expr: string, known: Map<string, bigint>, where: string): bigint {
  const tokens =
    expr.match(/0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|[A-Za-z_]\w*|<<|>>|[|&+\-~()]/g) ?? [];
  if (tokens.join('') !== expr.replace(/\s+/g, '')) {
    throw new Error(`${where}: cannot parse expression '${expr}'`);
  }
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const next = (): string => {
    const t = tokens[pos++];
    if (t === undefined) throw new Error(`${where}: unexpected end of '${expr}'`);
    return t;
  };
  const primary = (): bigint => {
    const t = next();
    if (t === '(') {
      const v = or();
      if (next() !== ')') throw new Error(`${where}: missing ')' in '${expr}'`);
      return v;
    }
    if (t === '-') return -primary();
    if (t === '~') return ~primary();
    if (/^\d|^0[xX]/.test(t)) return BigInt(t.replace(/[uUlL]+$/, ''));
    const v = known.get(t);
    if (v === undefined) throw new Error(`${where}: unknown identifier '${t}' in '${expr}'`);
    return v;
  };
  const additive = (): bigint => {
    let v = primary();
    while (peek() === '+' || peek() === '-') v = next() === '+' ? v + primary() : v - primary();
    return v;
  };
  const shift = (): bigint => {
    let v = additive();
    while (peek() === '<<' || peek() === '>>')
      v = next() === '<<' ? v << additive() : v >> additive();
    return v;
  };
  const and = (): bigint => {
    let v = shift();
    while (peek() === '&') {
      next();
      v &= shift();
    }
    return v;
  };
  const or = (): bigint => {
    let v = and();
    while (peek() === '|') {
      next();
      v |= and();
    }
    return v;
  };
  const v = or();
  if (pos !== tokens.length) throw new Error(`${where}: trailing tokens in '${expr}'`);
  return v;
}

/** Reads every enum of one header, resolving values against `known`. */
function parseHeader(header: string, text: string, known: Map<string, bigint>): Enum[] {
  const enums: Enum[] = [];
  const re = /typedef\s+enum\s*\{([\s\S]*?)\}\s*(\w+)\s*;/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const body = m[1] ?? '';
    const cName = m[2] ?? '';
    const bodyStart = m.index + m[0].indexOf('{') + 1;
    const line = text.slice(0, m.index).split('\n').length;
    // Sentinels (VIR_*_LAST) sit behind VIR_ENUM_SENTINELS and are not API.
    const code = blankComments(body).replace(
      /#\s*ifdef\s+VIR_ENUM_SENTINELS[\s\S]*?#\s*endif/g,
      (s) => s.replace(/[^\n]/g, ' '),
    );
    const members: Member[] = [];
    let next = 0n;
    let offset = 0;
    for (const part of code.split(',')) {
      const partStart = offset;
      offset += part.length + 1;
      const entry = part.trim();
      if (entry === '') continue;
      const mm = /^(\w+)\s*(?:=\s*([\s\S]+))?$/.exec(entry);
      if (!mm || mm[1] === undefined)
        throw new Error(`${header}:${line}: cannot parse enum entry '${entry}'`);
      const name = mm[1];
      const value = mm[2] !== undefined ? evaluate(mm[2].trim(), known, `${header}:${line}`) : next;
      known.set(name, value);
      next = value + 1n;
      // The member's doc is a comment that starts on the member's own line.
      const memberEnd = bodyStart + partStart + part.length + 1;
      const eol = text.indexOf('\n', memberEnd);
      const rest = text.slice(memberEnd);
      const cm = /^[ \t]*\/\*([\s\S]*?)\*\//.exec(rest);
      const doc =
        cm && memberEnd + (cm.index ?? 0) < (eol === -1 ? Infinity : eol)
          ? cm[1]?.replace(/\s+/g, ' ').trim()
          : undefined;
      members.push({ cName: name, value, doc: doc === '' ? undefined : doc });
    }
    if (members.length > 0) enums.push({ cName, header, line, members });
  }
  return enums;
}

/** Longest token prefix (split on '_') shared by all names, leaving ≥ 1 token each. */
function sharedPrefix(names: string[][]): number {
  const shortest = Math.min(...names.map((n) => n.length));
  let k = 0;
  while (k < shortest - 1 && names.every((n) => n[k] === names[0]?.[k])) k++;
  return k;
}

function camel(tokens: string[]): string {
  return tokens.map((t) => t.charAt(0).toUpperCase() + t.slice(1).toLowerCase()).join('');
}

/** go-libvirt style member names for one enum. */
function memberNames(e: Enum): string[] {
  const tokens = e.members.map((m) => m.cName.split('_'));
  let k = sharedPrefix(tokens);
  // A few enums mix families (virErrorNumber has VIR_WAR_*): take the prefix most
  // members share and strip only VIR_ from the rest.
  let majority: string[] = [];
  if (k <= 1 && e.members.length > 3) {
    const counts = new Map<string, number>();
    for (const t of tokens)
      counts.set(t.slice(0, 2).join('_'), (counts.get(t.slice(0, 2).join('_')) ?? 0) + 1);
    const [best, n] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
    if (n >= tokens.length * 0.75) {
      majority = best.split('_');
      const fam = tokens.filter((t) => t.slice(0, 2).join('_') === best);
      k = Math.max(2, sharedPrefix(fam));
      majority = fam[0]?.slice(0, k) ?? majority;
    }
  }
  const strip = (t: string[]): string[] => {
    if (majority.length > 0 && !majority.every((tok, i) => t[i] === tok)) return t.slice(1);
    return t.slice(k);
  };
  // Never start a member with a digit: back off one token where needed.
  return tokens.map((t) => {
    let rest = strip(t);
    if (/^\d/.test(rest[0] ?? '')) rest = t.slice(t.length - rest.length - 1);
    return camel(rest);
  });
}

function typeName(cName: string, taken: Set<string>): string {
  const base = cName.replace(/^vir/, '');
  const short = base.replace(/Values$/, '');
  return short !== base && taken.has(short) ? base : short;
}

function jsValue(v: bigint): string {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`value ${v} does not fit a JS number`);
  }
  return v.toString();
}

function escapeDoc(s: string): string {
  return s.replace(/\*\//g, '* /');
}

/** Produces the formatted source of src/libvirt/constants.ts. */
export async function generate(headerDir: string = DEFAULT_HEADER_DIR): Promise<string> {
  const headers = readdirSync(headerDir)
    .filter((f) => f.endsWith('.h') && !SKIPPED_HEADERS.has(f))
    .sort();
  const known = new Map<string, bigint>();
  // Follow libvirt.h's include order: later headers' enums use earlier values.
  const umbrella = readFileSync(join(headerDir, 'libvirt.h'), 'utf8');
  const included = [...umbrella.matchAll(/#\s*include\s*<libvirt\/([\w-]+\.h)>/g)].map(
    (m) => m[1] ?? '',
  );
  const ordered = [
    ...included.filter((h) => headers.includes(h)),
    ...headers.filter((h) => !included.includes(h)),
  ];
  const enums: Enum[] = [];
  for (const h of ordered)
    enums.push(...parseHeader(`libvirt/${h}`, readFileSync(join(headerDir, h), 'utf8'), known));
  const common = readFileSync(join(headerDir, 'libvirt-common.h'), 'utf8');
  const version = /#\s*define\s+LIBVIR_VERSION_NUMBER\s+(\d+)/.exec(common)?.[1] ?? '0';
  const v = Number(version);
  const versionText = `${Math.floor(v / 1000000)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`;

  const taken = new Set(enums.map((e) => e.cName.replace(/^vir/, '')));
  const out: string[] = [
    `// GENERATED by hack/gen-libvirt-constants.ts from the libvirt ${versionText} headers. Do not edit.`,
    '// Regenerate with: tsx hack/gen-libvirt-constants.ts',
    '',
    `/** The libvirt version whose headers produced this file. */`,
    `export const LIBVIRT_HEADERS_VERSION = ${jsValue(BigInt(v))};`,
    '',
  ];
  const seenTypes = new Set<string>();
  for (const e of enums) {
    const name = typeName(e.cName, taken);
    if (seenTypes.has(name)) throw new Error(`duplicate enum name ${name} (${e.cName})`);
    seenTypes.add(name);
    const names = memberNames(e);
    if (new Set(names).size !== names.length)
      throw new Error(`duplicate member names in ${e.cName}: ${names}`);
    out.push(`/** ${e.cName}, as declared in ${e.header}:${e.line}. */`);
    out.push(`export const ${name} = {`);
    e.members.forEach((m, i) => {
      const doc = m.doc !== undefined ? `: ${escapeDoc(m.doc)}` : '';
      out.push(`  /** ${m.cName}${doc} */`);
      out.push(`  ${names[i]}: ${jsValue(m.value)},`);
    });
    out.push('} as const;');
    out.push(`/** A value of ${e.cName}. */`);
    out.push(`export type ${name} = (typeof ${name})[keyof typeof ${name}];`);
    out.push('');
    const symbolPrefix = SYMBOL_TABLES[e.cName];
    if (symbolPrefix !== undefined) {
      out.push(
        `/** Symbolic names of ${e.cName} values, as libvirt spells them without '${symbolPrefix}'. */`,
      );
      out.push(`export const ${name}Names: Readonly<Record<number, string>> = {`);
      const seen = new Set<bigint>();
      for (const m of e.members) {
        if (seen.has(m.value)) continue; // the first spelling of an alias wins
        seen.add(m.value);
        const sym = m.cName.startsWith(symbolPrefix)
          ? m.cName.slice(symbolPrefix.length)
          : m.cName.slice(4);
        out.push(`  ${jsValue(m.value)}: '${sym}',`);
      }
      out.push('};');
      out.push('');
    }
  }
  const config = (await prettier.resolveConfig(resolve(OUTPUT_PATH))) ?? {};
  return prettier.format(out.join('\n'), { ...config, parser: 'typescript' });
}

async function main(): Promise<void> {
  const dir = process.argv[2] ?? DEFAULT_HEADER_DIR;
  writeFileSync(OUTPUT_PATH, await generate(dir));
  console.log(`wrote ${OUTPUT_PATH} from ${dir}`);
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(resolve(process.argv[1])).href
) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
