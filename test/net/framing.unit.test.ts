import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameDecoder, encodeFrame } from '../../src/net/framing.ts';
import { validateMessage } from '../../src/net/protocol.ts';

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): unknown[] {
  const out: unknown[] = [];
  for (const c of chunks) decoder.push(c, (m) => out.push(m));
  return out;
}

describe('framing', () => {
  const messages = [{ t: 'req', id: 1, cmd: 'ping' }, { t: 'res', id: 1, ok: true, data: { text: 'é€😀' } }, { t: 'hb' }];
  const wire = Buffer.concat(messages.map(encodeFrame));

  it('decodes frames however the bytes are split', () => {
    for (let size = 1; size <= wire.length; size++) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < wire.length; i += size) chunks.push(wire.subarray(i, i + size));
      assert.deepEqual(decodeAll(new FrameDecoder(1024), chunks), messages, `chunk size ${size}`);
    }
  });

  it('rejects a frame over the maximum from its header alone', () => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1025);
    assert.throws(() => decodeAll(new FrameDecoder(1024), [header]), { code: 'bad_frame', message: /1025 bytes exceeds the maximum of 1024/ });
  });

  it('rejects a frame that is not JSON', () => {
    const bad = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{x}')]);
    assert.throws(() => decodeAll(new FrameDecoder(1024), [bad]), { code: 'bad_frame' });
  });

  it('validates message shapes', () => {
    assert.deepEqual(validateMessage({ t: 'req', id: 7, cmd: 'ping', to: 'B' }), { t: 'req', id: 7, cmd: 'ping', to: 'B' });
    assert.deepEqual(validateMessage({ t: 'req', id: 8, cmd: 'x', mid: 'm', oldest: 3 }), { t: 'req', id: 8, cmd: 'x', mid: 'm', oldest: 3 });
    assert.deepEqual(validateMessage({ t: 'hb', tv: 4, th: 'f'.repeat(64) }), { t: 'hb', tv: 4, th: 'f'.repeat(64) });
    for (const bad of [null, [], 'x', { t: 'req', id: '7', cmd: 'ping' }, { t: 'req', id: 1, cmd: '' }, { t: 'req', id: 1, cmd: 'x'.repeat(65) },
      { t: 'req', id: 1, cmd: 'x', oldest: -1 }, { t: 'req', id: 1, cmd: 'x', oldest: '3' },
      { t: 'req', id: 1, cmd: 'x', mid: 'a\ud800' }, { t: 'req', id: 1, cmd: 'x', mid: 'a\u0000b' }, { t: 'req', id: 1, cmd: 'x', mid: 'a b' }, { t: 'req', id: 1, cmd: 'x', mid: 'é' },
      { t: 'res', id: 1, ok: false, code: 'made_up', message: 'x' }, { t: 'hello', v: 1 }, { t: 'nope' },
      // A host table's version and hash (issue 28): a positive integer and 64 hex digits, or neither.
      { t: 'hb', tv: 0, th: 'a'.repeat(64) }, { t: 'hb', tv: 2 }, { t: 'hb', tv: 2, th: 'A'.repeat(64) }, { t: 'hello', v: 1, cluster: 'c', node: 'A', tv: 1.5, th: 'a'.repeat(64) }, { t: 'hello', v: 1, cluster: 'c', node: 'A', tv: 3, th: 'a'.repeat(63) }]) {
      assert.throws(() => validateMessage(bad), { code: 'bad_frame' }, JSON.stringify(bad));
    }
  });
});
