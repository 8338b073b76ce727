// Tests the FCGI_GET_VALUES answer (FastCGI spec §4.1): known names from the configuration, each once.

import { describe, expect, it } from 'vitest';
import { answerGetValues } from '../../src/fastcgi/get-values.js';
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
