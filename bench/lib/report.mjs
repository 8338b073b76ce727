// Formats benchmark results as Markdown tables (printed, and pasted into docs/performance.md).

function table(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

const fixed = (value, digits) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const ms = (us) => fixed(us / 1000, 2);
const thousands = (value) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–');

export function formatResultTable(results) {
  return table(
    ['case', 'conns', 'backend', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'socket err', 'nginx err', 'RSS MiB idle / peak', 'backend CPU µs/req', 'nginx CPU µs/req', 'other CPU %'],
    results.map((r) => [
      r.case,
      String(r.connections),
      r.variant,
      thousands(r.rps),
      ms(r.p50Us),
      ms(r.p99Us),
      String(r.non2xx),
      String(r.socketErrors),
      String(r.nginxErrors),
      `${fixed(r.idleRssMiB, 0)} / ${fixed(r.peakRssMiB, 0)}`,
      fixed(r.backendCpuUsPerRequest, 0),
      fixed(r.nginxCpuUsPerRequest, 0),
      fixed(r.otherCpuPercent, 0),
    ]),
  );
}

/**
 * One line per multi-process backend (php-fpm's pool): its RSS column is a sum over the processes,
 * which counts shared pages once per process; the Pss sum after the load says what it really held.
 */
export function formatPoolNotes(results, backends = []) {
  const lines = [];
  for (const id of new Set(results.filter((r) => r.processes > 1).map((r) => r.variant))) {
    const rows = results.filter((r) => r.variant === id);
    const processes = Math.max(...rows.map((r) => r.processes));
    const pss = rows.map((r) => `${r.case}/${r.connections} ${fixed(r.pssAfterMiB, 0)}`).join(', ');
    const setup = backends.find((backend) => backend.id === id)?.setup;
    lines.push(
      `- ${id}${setup ? ` (${setup})` : ''}: RSS is the sum of VmRSS over its ${processes} processes (master and workers; ` +
        `shared pages counted in each). Pss summed over them after the load, MiB: ${pss}.`,
    );
  }
  return lines.join('\n');
}

export function formatRatioTable(rows) {
  const pairs = [...new Set(rows.flatMap((row) => Object.keys(row.ratios)))];
  return table(
    ['case', 'conns', ...pairs],
    rows.map((row) => [row.case, String(row.connections), ...pairs.map((pair) => fixed(row.ratios[pair], 2))]),
  );
}

export function formatCgiTable(rows) {
  return table(
    ['command', 'median ms', 'mean ms', 'min ms', 'stddev ms', '÷ node -e 0'],
    rows.map((r) => [`\`${r.command}\``, fixed(r.median, 1), fixed(r.mean, 1), fixed(r.min, 1), fixed(r.stddev, 1), fixed(r.ratioToNode, 2)]),
  );
}
