// virStream: blocking streams whose send/recv run on worker threads, plus helpers
// that bridge them to Node streams and async iterables.
import { raw, type StreamHandle } from './binding.js';
import { LibvirtObject } from './object.js';

/** Bytes per virStreamRecv call; libvirt's RPC layer moves at most 256 KiB per message. */
export const STREAM_CHUNK_SIZE = 256 * 1024;

/** A libvirt data stream (virStreamPtr), created by Connection.newStream. */
export class Stream extends LibvirtObject<StreamHandle> {
  /**
   * virStreamSend, repeated until the whole chunk is written.
   * @see https://libvirt.org/html/libvirt-libvirt-stream.html#virStreamSend
   */
  send(chunk: Uint8Array): Promise<void> {
    return raw.streamSend(this.handle, chunk);
  }

  /**
   * virStreamRecv: up to `size` bytes, or null at end of stream.
   * @see https://libvirt.org/html/libvirt-libvirt-stream.html#virStreamRecv
   */
  recv(size: number = STREAM_CHUNK_SIZE): Promise<Buffer | null> {
    return raw.streamRecv(this.handle, size);
  }

  /**
   * virStreamFinish: flush and check the transfer completed.
   * @see https://libvirt.org/html/libvirt-libvirt-stream.html#virStreamFinish
   */
  finish(): Promise<void> {
    return raw.streamFinish(this.handle);
  }

  /**
   * virStreamAbort
   * @see https://libvirt.org/html/libvirt-libvirt-stream.html#virStreamAbort
   */
  abort(): Promise<void> {
    return raw.streamAbort(this.handle);
  }

  /** Sends every chunk of `source`, then finishes; aborts the stream on failure. */
  async sendAll(source: AsyncIterable<Uint8Array | string>): Promise<void> {
    try {
      for await (const chunk of source) {
        await this.send(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      }
      await this.finish();
    } catch (err) {
      await this.abort().catch(() => undefined); // the original error matters more
      throw err;
    }
  }

  /** Yields received chunks until end of stream, then finishes; aborts on failure or early exit. */
  async *recvAll(chunkSize: number = STREAM_CHUNK_SIZE): AsyncGenerator<Buffer, void, undefined> {
    let done = false;
    try {
      for (;;) {
        const chunk = await this.recv(chunkSize);
        if (chunk === null) break;
        yield chunk;
      }
      done = true;
      await this.finish();
    } finally {
      if (!done) await this.abort().catch(() => undefined);
    }
  }
}
