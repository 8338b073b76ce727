// Tests the answers to management records and unknown types (FastCGI spec §4): GET_VALUES from the configuration, UNKNOWN_TYPE.

import { describe, expect, it } from 'vitest';
import { RecordType } from '../../src/fastcgi/constants.js';
import { answerGetValues, answerManagementRecord, unknownTypeReply } from '../../src/fastcgi/management.js';
import { decodeParams, encodeParams } from '../../src/fastcgi/params.js';

const ask = (...names: string[]) => encodeParams(names.map((name): [string, string] => [name, '']));

describe('answerGetValues', () => {
  it('answers the names it knows from the limits, and leaves the others out', () => {
    const answer = answerGetValues(ask('FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS', 'OTHER'), {
      maxConns: 10,
      multiplex: true,
      maxRequestsPerConnection: 5,
    });
    expect(decodeParams(answer)).toEqual([['FCGI_MAX_CONNS', '10'], ['FCGI_MAX_REQS', '50'], ['FCGI_MPXS_CONNS', '1']]);
  });

  it('counts one request per connection without multiplexing', () => {
    const answer = answerGetValues(ask('FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'), { maxConns: 10, multiplex: false, maxRequestsPerConnection: 5 });
    expect(decodeParams(answer)).toEqual([['FCGI_MAX_REQS', '10'], ['FCGI_MPXS_CONNS', '0']]);
  });

  it('answers a name asked many times once, and not names of Object.prototype', () => {
    const answer = answerGetValues(ask(...Array<string>(4000).fill('FCGI_MAX_CONNS'), 'toString', 'constructor'), {
      maxConns: 1,
      multiplex: true,
      maxRequestsPerConnection: 1,
    });
    expect(decodeParams(answer)).toEqual([['FCGI_MAX_CONNS', '1']]);
  });
});

describe('answerManagementRecord', () => {
  const limits = { maxConns: 3, multiplex: false, maxRequestsPerConnection: 9 };

  it('answers FCGI_GET_VALUES with FCGI_GET_VALUES_RESULT', () => {
    const reply = answerManagementRecord(RecordType.FCGI_GET_VALUES, ask('FCGI_MAX_CONNS'), limits);
    expect(reply.type).toBe(RecordType.FCGI_GET_VALUES_RESULT);
    expect(decodeParams(reply.content)).toEqual([['FCGI_MAX_CONNS', '3']]);
  });

  it('answers a type it does not know with FCGI_UNKNOWN_TYPE naming it (spec §4.2)', () => {
    const reply = answerManagementRecord(200, new Uint8Array(0), limits);
    expect(reply.type).toBe(RecordType.FCGI_UNKNOWN_TYPE);
    expect([...reply.content]).toEqual([200, 0, 0, 0, 0, 0, 0, 0]);
  });

  it.each([RecordType.FCGI_GET_VALUES_RESULT, RecordType.FCGI_UNKNOWN_TYPE])(
    'answers type %i, which only an application sends, with FCGI_UNKNOWN_TYPE rather than failing',
    (type) => {
      const reply = answerManagementRecord(type, new Uint8Array(0), limits);
      expect(reply.type).toBe(RecordType.FCGI_UNKNOWN_TYPE);
      expect(reply.content[0]).toBe(type);
    },
  );

  it("refuses a request's record type on request id 0", () => {
    for (const type of [RecordType.FCGI_BEGIN_REQUEST, RecordType.FCGI_PARAMS, RecordType.FCGI_STDIN, RecordType.FCGI_DATA]) {
      expect(() => answerManagementRecord(type, new Uint8Array(8), limits)).toThrow(
        expect.objectContaining({ code: 'FCGI_NULL_REQUEST_ID' }),
      );
    }
  });
});

describe('unknownTypeReply', () => {
  it('answers types beyond the spec with FCGI_UNKNOWN_TYPE', () => {
    expect(unknownTypeReply(12)).toEqual({ type: RecordType.FCGI_UNKNOWN_TYPE, content: expect.any(Uint8Array) });
    expect(unknownTypeReply(12).content[0]).toBe(12);
  });

  it('refuses types a web server never sends to an application', () => {
    for (const type of [
      RecordType.FCGI_END_REQUEST,
      RecordType.FCGI_STDOUT,
      RecordType.FCGI_GET_VALUES,
      RecordType.FCGI_GET_VALUES_RESULT,
      RecordType.FCGI_UNKNOWN_TYPE,
    ]) {
      expect(() => unknownTypeReply(type)).toThrow(expect.objectContaining({ code: 'FCGI_UNEXPECTED_RECORD' }));
    }
  });
});
