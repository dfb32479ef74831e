// A TEST SERVER, NOT MAAS. Reads request bodies the way Django gives them to MAAS's handlers
// (request.POST / request.data, a QueryDict): application/x-www-form-urlencoded and
// multipart/form-data, both with repeated keys. Multipart is parsed with busboy, a maintained
// streaming parser, rather than by hand: boundaries, quoting and part headers are easy to get
// wrong, and a wrong parser here would hide client bugs.
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';

/** Field name → values in arrival order (Django's QueryDict.getlist). */
export type FormFields = ReadonlyMap<string, readonly string[]>;

/** Largest body accepted; the lab's requests are a few hundred bytes. */
const MAX_BODY_BYTES = 1 << 20;

/** Thrown for a body the server cannot read; the server answers 400. */
export class UnreadableBodyError extends Error {}

/** Parse a request's form body; an empty or absent body gives an empty map. */
export async function readFormBody(request: IncomingMessage): Promise<FormFields> {
  const contentType = request.headers['content-type'] ?? '';
  if (/^multipart\/form-data/i.test(contentType)) return readMultipart(request);
  const raw = await readRaw(request);
  if (raw.length === 0) return new Map();
  if (!/^application\/x-www-form-urlencoded/i.test(contentType)) {
    throw new UnreadableBodyError(`unsupported content type: ${contentType || '(none)'}`);
  }
  return fromPairs(new URLSearchParams(raw.toString('utf8')));
}

/** The query string as a QueryDict-like map. */
export function queryFields(search: URLSearchParams): FormFields {
  return fromPairs(search);
}

function fromPairs(pairs: Iterable<[string, string]>): FormFields {
  const fields = new Map<string, string[]>();
  for (const [name, value] of pairs) fields.set(name, [...(fields.get(name) ?? []), value]);
  return fields;
}

async function readRaw(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new UnreadableBodyError('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function readMultipart(request: IncomingMessage): Promise<FormFields> {
  return new Promise((resolve, reject) => {
    const pairs: [string, string][] = [];
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: request.headers, limits: { fieldSize: MAX_BODY_BYTES } });
    } catch (error) {
      reject(new UnreadableBodyError(`bad multipart body: ${String(error)}`));
      return;
    }
    parser.on('field', (name, value) => pairs.push([name, value]));
    // MAAS's machine create takes no files; uploaded files are drained and ignored.
    parser.on('file', (_name, stream) => stream.resume());
    parser.on('error', (error) =>
      reject(new UnreadableBodyError(`bad multipart body: ${String(error)}`)),
    );
    parser.on('close', () => resolve(fromPairs(pairs)));
    request.pipe(parser);
  });
}
