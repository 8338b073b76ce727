// Tests the records a connection sends on its own: which BEGIN_REQUEST it refuses (FastCGI spec §5.5), and the bound on unread replies.

import { describe, expect, it } from 'vitest';
import { ProtocolStatus, RecordType, Role } from '../../src/fastcgi/constants.js';
import { encodeParams } from '../../src/fastcgi/params.js';
import { REPLY_BACKLOG_LIMIT_BYTES, Replies, refusalFor } from '../../src/fastcgi/replies.js';
import { RecordWriter } from '../../src/fastcgi/writer.js';

const MULTIPLEX = { multiplex: true, maxRequestsPerConnection: 2 };

describe('refusalFor', () => {
  it('takes a request of a known role while there is room', () => {
    for (const role of [Role.FCGI_RESPONDER, Role.FCGI_AUTHORIZER, Role.FCGI_FILTER]) {
      expect(refusalFor(role, 1, MULTIPLEX, false)).toBeUndefined();
    }
  });

  it('refuses a second live request without multiplexing with FCGI_CANT_MPX_CONN, before anything else', () => {
    expect(refusalFor(99, 1, { multiplex: false, maxRequestsPerConnection: 1 }, true)).toBe(ProtocolStatus.FCGI_CANT_MPX_CONN);
    expect(refusalFor(Role.FCGI_RESPONDER, 0, { multiplex: false, maxRequestsPerConnection: 1 }, false)).toBeUndefined();
  });

  it('answers FCGI_OVERLOADED when stopping or full, before looking at the role', () => {
    expect(refusalFor(99, 0, MULTIPLEX, true)).toBe(ProtocolStatus.FCGI_OVERLOADED);
    expect(refusalFor(Role.FCGI_RESPONDER, 2, MULTIPLEX, false)).toBe(ProtocolStatus.FCGI_OVERLOADED);
  });

  it('refuses a role it does not know with FCGI_UNKNOWN_ROLE', () => {
    expect(refusalFor(99, 0, MULTIPLEX, false)).toBe(ProtocolStatus.FCGI_UNKNOWN_ROLE);
  });
});

/** A sink that records what reaches it and says it is full when told to. */
function sink(): { writableNeedDrain: boolean; bytes: number; write(chunk: Uint8Array): boolean } {
  return {
    writableNeedDrain: false,
    bytes: 0,
    write(chunk) {
      this.bytes += chunk.byteLength;
      return !this.writableNeedDrain;
    },
  };
}

describe('Replies', () => {
  const limits = { maxConns: 1, multiplex: true, maxRequestsPerConnection: 1 };

  it('sends refusals and answers while the web server reads', () => {
    const socket = sink();
    const writer = new RecordWriter(socket);
    const replies = new Replies(writer, socket, limits);
    replies.refuse(3, ProtocolStatus.FCGI_OVERLOADED);
    replies.management(RecordType.FCGI_GET_VALUES, encodeParams([['FCGI_MAX_CONNS', '']]));
    replies.unknownType(42);
    writer.flush();
    expect(socket.bytes).toBeGreaterThan(3 * 8);
  });

  it('throws FCGI_REPLY_BACKLOG once the replies queued while the socket is full pass the limit, and forgets them on drain', () => {
    const socket = sink();
    const replies = new Replies(new RecordWriter(socket), socket, limits);
    socket.writableNeedDrain = true;
    const each = 16; // an UNKNOWN_TYPE record: 8 header bytes and an 8-byte body
    for (let sent = 0; sent + each <= REPLY_BACKLOG_LIMIT_BYTES; sent += each) replies.unknownType(42);
    expect(() => replies.unknownType(42)).toThrow(expect.objectContaining({ code: 'FCGI_REPLY_BACKLOG' }));
    replies.drained();
    expect(() => replies.unknownType(42)).not.toThrow();
  });

  it('never counts replies while the socket takes them', () => {
    const socket = sink();
    const replies = new Replies(new RecordWriter(socket), socket, limits);
    for (let i = 0; i < (2 * REPLY_BACKLOG_LIMIT_BYTES) / 16; i++) replies.unknownType(42);
    expect(() => replies.unknownType(42)).not.toThrow();
  });
});
