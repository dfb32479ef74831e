import { expect } from 'chai';
import { definedProps, type DefinedProps } from '../../../src/util/defined-props.js';

/** Compiles only when `A` and `B` are the same type. */
type Equal<A, B> =
  (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
const typeIs = <T extends true>(): T => true as T;

describe('util/defined-props', () => {
  it('drops the keys whose value is undefined', () => {
    const port: number | undefined = undefined;
    const out = definedProps({ name: 'a', port, tls: undefined });
    expect(out).to.deep.equal({ name: 'a' });
    expect(Object.keys(out)).to.deep.equal(['name']);
    expect('port' in out).to.equal(false);
  });

  it('keeps null, false, 0, empty string and NaN: only undefined means unknown', () => {
    const out = definedProps({ n: null, f: false, z: 0, s: '', nan: Number.NaN });
    expect(out).to.deep.equal({ n: null, f: false, z: 0, s: '', nan: Number.NaN });
  });

  it('keeps the order of the keys it copies', () => {
    const out = definedProps({ c: 3, b: undefined, a: 1, d: 'x' });
    expect(Object.keys(out)).to.deep.equal(['c', 'a', 'd']);
    expect(JSON.stringify(out)).to.equal('{"c":3,"a":1,"d":"x"}');
  });

  it('returns a new plain object and leaves its input alone', () => {
    const input = { a: 1, b: undefined };
    const out = definedProps(input);
    expect(out).to.not.equal(input);
    expect(input).to.have.all.keys('a', 'b');
    expect(Object.getPrototypeOf(out)).to.equal(Object.prototype);
    expect(definedProps({})).to.deep.equal({});
  });

  it('copies values by reference, not deeply, and never looks inside them', () => {
    const inner = { x: undefined };
    const out = definedProps({ inner });
    expect(out.inner).to.equal(inner);
    expect(out.inner).to.have.property('x');
  });

  it('copies own enumerable keys only: no inherited, non-enumerable or symbol keys', () => {
    const proto = { inherited: 1 };
    const input = Object.create(proto) as { own?: number; inherited?: number };
    input.own = 2;
    Object.defineProperty(input, 'hidden', { value: 3, enumerable: false });
    (input as Record<symbol, number>)[Symbol('s')] = 4;
    const out = definedProps(input);
    expect(out).to.deep.equal({ own: 2 });
    expect(Reflect.ownKeys(out)).to.deep.equal(['own']);
  });

  it('copies a __proto__ key as a key, never as the prototype', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<
      string,
      unknown
    >;
    const out = definedProps(input) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).to.equal(Object.prototype);
    expect(Object.keys(out)).to.deep.equal(['__proto__', 'a']);
    expect(out['polluted']).to.equal(undefined);
    expect(({} as Record<string, unknown>)['polluted']).to.equal(undefined);
    const dropped = definedProps(JSON.parse('{"__proto__": null}') as Record<string, unknown>);
    expect(Object.keys(dropped)).to.deep.equal(['__proto__']);
  });

  it('keeps getters’ values, read once, and drops a getter that yields undefined', () => {
    let reads = 0;
    const input = {
      get a() {
        reads++;
        return 1;
      },
      get b(): number | undefined {
        return undefined;
      },
    };
    const out = definedProps(input);
    expect(out).to.deep.equal({ a: 1 });
    expect(reads).to.equal(1);
    expect(Object.getOwnPropertyDescriptor(out, 'a')).to.have.property('value', 1);
  });

  it('types keys that may be undefined as optional without undefined, the rest as required', () => {
    const out = definedProps({
      name: 'a',
      port: 1 as number | undefined,
      host: null as string | null,
      tls: undefined as { ca: string } | undefined,
    });
    type Out = typeof out;
    typeIs<Equal<Out['name'], string>>();
    typeIs<Equal<Out['host'], string | null>>();
    typeIs<Equal<Required<Out>['port'], number>>();
    typeIs<Equal<Required<Out>['tls'], { ca: string }>>();
    typeIs<Equal<keyof Out, 'name' | 'port' | 'host' | 'tls'>>();
    typeIs<Equal<Pick<Out, 'port' | 'tls'>, { port?: number; tls?: { ca: string } }>>();
    typeIs<Equal<Pick<Out, 'name' | 'host'>, { name: string; host: string | null }>>();
    typeIs<Equal<DefinedProps<{ a?: string }>['a'], string | undefined>>();
    // Assignable to a shape with optional fields, as the status builders need.
    const target: { name: string; port?: number; host: string | null; tls?: { ca: string } } = out;
    expect(target).to.deep.equal({ name: 'a', port: 1, host: null });
  });
});
