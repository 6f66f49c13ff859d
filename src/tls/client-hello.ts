import { hostName } from '../host-name.ts';

/**
 * What the front reads of a TLS ClientHello before the handshake (RFC 8446 §4.1.2, RFC 5246
 * §7.4.1.2): the name asked for (SNI, RFC 6066 §3), the protocols offered (ALPN, RFC 7301), the
 * signature schemes, the cipher suites, the groups and the versions. OpenSSL would tell the name only, and
 * too late to choose between a name's RSA and ECDSA certificates (Node's SNI callback serves one
 * certificate a context); HAProxy reads the hello the same way for the same choice.
 */
export interface ClientHello {
  /** The SNI host name, lower-case, without a final dot; undefined when none (or not a host name) was sent. */
  serverName: string | undefined;
  alpn: string[];
  sigalgs: number[];
  ciphers: number[];
  /** supported_versions (TLS 1.3 clients); empty for a TLS 1.2 client. */
  versions: number[];
  /** supported_groups (named curves and key exchange groups); empty when not sent. */
  groups: number[];
  /**
   * The key name (first 16 bytes, hex) of the session ticket the client offers to resume with:
   * TLS 1.2's session_ticket, TLS 1.3's first pre_shared_key identity (OpenSSL's tickets begin
   * with the name of the key that sealed them).
   */
  ticketKeyName: string | undefined;
}

/** A hello bigger than this (every record of it) is refused: real ones are under 2 KiB, post-quantum key shares included. */
const MAX_HELLO_BYTES = 16_384;

const HOST_NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$/;

/** A hello in more records than this is refused: a client splits it in two at most, an attacker in one-byte records. */
const MAX_HELLO_RECORDS = 8;

/**
 * Reads the hello from the bytes received so far: a number (how many bytes must have arrived
 * before it is worth reading again) while it is incomplete, `null` if the bytes are not a
 * ClientHello (not TLS, malformed, past MAX_HELLO_BYTES or MAX_HELLO_RECORDS).
 */
export function readClientHello(bytes: Buffer): ClientHello | null | number {
  // The handshake message may span records: gather their fragments.
  const fragments: Buffer[] = [];
  let gathered = 0;
  let need = -1;
  for (let at = 0, records = 0; ; records++) {
    if (records === MAX_HELLO_RECORDS) return null;
    if (bytes.length - at < 5) return at + 5;
    if (bytes[at] !== 22 || bytes[at + 1] !== 3) return null; // a handshake record, SSL 3.0 or later framing
    const length = bytes.readUInt16BE(at + 3);
    if (length === 0 || at + 5 + length > MAX_HELLO_BYTES) return null;
    if (bytes.length < at + 5 + length) return at + 5 + length;
    fragments.push(bytes.subarray(at + 5, at + 5 + length));
    gathered += length;
    at += 5 + length;
    if (need < 0 && gathered >= 4) {
      const head = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
      if (head[0] !== 1) return null; // not a ClientHello
      need = 4 + head.readUIntBE(1, 3);
      if (need > MAX_HELLO_BYTES) return null;
    }
    if (need >= 0 && gathered >= need) return parseHello((fragments.length === 1 ? fragments[0] : Buffer.concat(fragments)).subarray(4, need));
  }
}

function parseHello(body: Buffer): ClientHello | null {
  const r = new Reader(body);
  const hello: ClientHello = { serverName: undefined, alpn: [], sigalgs: [], ciphers: [], versions: [], groups: [], ticketKeyName: undefined };
  if (!r.skip(2 + 32)) return null; // legacy_version, random
  if (!r.skip(r.u8())) return null; // session id
  const suites = r.vector(r.u16());
  if (!suites || suites.length % 2) return null;
  for (let i = 0; i < suites.length; i += 2) hello.ciphers.push(suites.readUInt16BE(i));
  if (!r.skip(r.u8())) return null; // compression methods
  if (r.left === 0) return hello; // no extensions (a very old client)
  const extensions = r.vector(r.u16());
  if (!extensions) return null;
  const e = new Reader(extensions);
  while (e.left > 0) {
    const type = e.u16();
    const data = e.vector(e.u16());
    if (!data) return null;
    const d = new Reader(data);
    if (type === 0) {
      const list = new Reader(d.vector(d.u16()) ?? Buffer.alloc(0));
      while (list.left > 0) {
        const kind = list.u8();
        const name = list.vector(list.u16());
        if (!name) return null;
        const host = name.toString('latin1').toLowerCase();
        if (kind === 0 && host.length <= 254 && HOST_NAME.test(host)) hello.serverName ??= hostName(host);
      }
    } else if (type === 16) {
      const list = new Reader(d.vector(d.u16()) ?? Buffer.alloc(0));
      while (list.left > 0 && hello.alpn.length < 32) {
        const proto = list.vector(list.u8());
        if (!proto) return null;
        hello.alpn.push(proto.toString('latin1'));
      }
    } else if (type === 13) {
      const list = d.vector(d.u16());
      if (!list || list.length % 2) return null;
      for (let i = 0; i < list.length; i += 2) hello.sigalgs.push(list.readUInt16BE(i));
    } else if (type === 10) {
      const list = d.vector(d.u16());
      if (!list || list.length % 2) return null;
      for (let i = 0; i < list.length; i += 2) hello.groups.push(list.readUInt16BE(i));
    } else if (type === 35 && data.length >= 16) {
      hello.ticketKeyName = data.subarray(0, 16).toString('hex');
    } else if (type === 41) {
      const identities = new Reader(d.vector(d.u16()) ?? Buffer.alloc(0));
      const first = identities.vector(identities.u16());
      if (first && first.length >= 16) hello.ticketKeyName = first.subarray(0, 16).toString('hex');
    } else if (type === 43) {
      const list = d.vector(d.u8());
      if (!list || list.length % 2) return null;
      for (let i = 0; i < list.length; i += 2) hello.versions.push(list.readUInt16BE(i));
    }
  }
  return hello;
}

/** Reads big-endian fields from a buffer; a read past the end yields 0 and marks the reader broken. */
class Reader {
  private at = 0;
  private broken = false;
  private readonly buf: Buffer;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  get left(): number {
    return this.broken ? 0 : this.buf.length - this.at;
  }

  u8(): number {
    if (this.left < 1) return this.fail(0);
    return this.buf[this.at++];
  }

  u16(): number {
    if (this.left < 2) return this.fail(0);
    const v = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }

  skip(n: number): boolean {
    if (this.broken || this.left < n) return this.fail(false);
    this.at += n;
    return true;
  }

  /** The next n bytes, or undefined if there are fewer. */
  vector(n: number): Buffer | undefined {
    if (this.broken || this.left < n) return this.fail(undefined);
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }

  private fail<T>(v: T): T {
    this.broken = true;
    return v;
  }
}
