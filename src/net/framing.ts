import { CohortError } from '../errors.ts';

// Frames are a 4-byte big-endian length and that many bytes of UTF-8 JSON.
// The decoder is a pure state machine: bytes in, parsed messages out, errors thrown.

export const FRAME_HEADER_BYTES = 4;

export function encodeFrame(message: unknown): Buffer {
  const json = JSON.stringify(message);
  const length = Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  frame.writeUInt32BE(length, 0);
  frame.write(json, FRAME_HEADER_BYTES, 'utf8');
  return frame;
}

export class FrameDecoder {
  private pending: Buffer | null = null;
  private readonly maxFrameBytes: number;

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Feeds bytes; calls onMessage for each whole frame. Throws bad_frame on a fault. */
  push(chunk: Buffer, onMessage: (message: unknown) => void): void {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let offset = 0;
    while (buf.length - offset >= FRAME_HEADER_BYTES) {
      const length = buf.readUInt32BE(offset);
      if (length > this.maxFrameBytes) {
        throw new CohortError('bad_frame', `frame of ${length} bytes exceeds the maximum of ${this.maxFrameBytes}`);
      }
      const end = offset + FRAME_HEADER_BYTES + length;
      if (buf.length < end) break;
      const text = buf.toString('utf8', offset + FRAME_HEADER_BYTES, end);
      offset = end;
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch {
        throw new CohortError('bad_frame', 'frame is not valid JSON');
      }
      onMessage(message);
    }
    this.pending = offset === buf.length ? null : buf.subarray(offset);
  }
}
