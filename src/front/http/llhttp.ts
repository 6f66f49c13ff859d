// Node's own request parser (llhttp, the one inside node:http), used without node:http's
// IncomingMessage / ServerResponse streams. A profile of the front showed those two costing
// about 6 µs of CPU a request, a sixth of the whole; llhttp itself, and all of its
// request-smuggling checks (CL+TE, duplicate CL, chunk sizes, obs-fold, bare CR/LF,
// header size), stay exactly as node:http runs them.
//
// `_http_common` is how node:http itself reaches the binding. Node is pinned (the `node`
// npm package), and this module fails at load, with a clear message, if the binding ever
// changes shape, rather than misparsing.
import { AsyncResource } from 'node:async_hooks';
import { createRequire } from 'node:module';

/** Callbacks the parser calls, under the numeric keys Node's binding uses. */
export interface ParserCallbacks {
  onMessageBegin(): void;
  /** Only for heads of more than 32 fields (and for trailers): a part of the fields, and of the URL. */
  onHeaders(headers: string[], url: string): void;
  /** Returns 0 (or 1: the message has no body). `headers` / `url` are empty if onHeaders got them. */
  onHeadersComplete(versionMajor: number, versionMinor: number, headers: string[] | undefined, method: number, url: string | undefined, statusCode: number, statusMessage: string, upgrade: boolean, shouldKeepAlive: boolean): number;
  onBody(chunk: Buffer): void;
  onMessageComplete(): void;
  /** After each read the parser consumed from the socket: bytes parsed, or the parse error. */
  onExecute(result: number | ParseError): void;
}

export interface ParseError extends Error {
  /** llhttp's error name, e.g. HPE_HEADER_OVERFLOW, HPE_INVALID_TRANSFER_ENCODING. */
  code: string;
  reason: string;
  bytesParsed: number;
}

interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  consume(handle: object): void;
  unconsume(): void;
  getCurrentBuffer(): Buffer;
  execute(data: Buffer): number | ParseError;
  finish(): number | ParseError;
  remove(): void;
  free(): void;
  close(): void;
  [key: number]: unknown;
}

interface Binding {
  HTTPParser: { new (): NativeParser; REQUEST: number; kOnMessageBegin: number; kOnHeaders: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number; kOnExecute: number };
  methods: string[];
  _checkIsHttpToken(value: string): boolean;
  _checkInvalidHeaderChar(value: string): boolean;
}

const binding = createRequire(import.meta.url)('_http_common') as Binding;
const { HTTPParser } = binding;
for (const key of ['kOnMessageBegin', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete', 'kOnExecute', 'REQUEST'] as const) {
  if (typeof HTTPParser?.[key] !== 'number') throw new Error(`this Node's HTTP parser binding lacks ${key}; run Cohort on the pinned Node (npm ci)`);
}

/** Method names by llhttp's method number. */
export const METHODS: readonly string[] = binding.methods;
/** RFC 9110 token (header names). */
export const isToken: (value: string) => boolean = binding._checkIsHttpToken;
/** A character not allowed in a header value (CTLs other than HTAB, DEL). */
export const hasInvalidHeaderChar: (value: string) => boolean = binding._checkInvalidHeaderChar;

const resource = new AsyncResource('COHORT_FRONT_REQUEST');

/** A request parser that reads straight from a socket's handle, in C++, and calls back. */
export function createRequestParser(maxHeaderBytes: number, callbacks: ParserCallbacks): NativeParser {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, resource, maxHeaderBytes, 0 /* strict: no leniency */);
  parser[HTTPParser.kOnMessageBegin] = callbacks.onMessageBegin;
  parser[HTTPParser.kOnHeaders] = callbacks.onHeaders;
  parser[HTTPParser.kOnHeadersComplete] = callbacks.onHeadersComplete;
  parser[HTTPParser.kOnBody] = callbacks.onBody;
  parser[HTTPParser.kOnMessageComplete] = callbacks.onMessageComplete;
  parser[HTTPParser.kOnExecute] = callbacks.onExecute;
  return parser;
}

export type RequestParser = NativeParser;
