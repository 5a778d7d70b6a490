import type { Stats } from '../api.js';
import { formatRate } from '../format.js';

const width = 720;
const height = 180;
const pad = { top: 10, right: 8, bottom: 24, left: 32 };
const colors = { succeeded: 'var(--ok)', failed: 'var(--bad)', pending: 'var(--warn)' } as const;
const outcomes = ['succeeded', 'failed', 'pending'] as const;

function hourLabel(iso: string): string {
  return `${iso.slice(11, 13)}:00`;
}

/** Deliveries per hour over 24 h, stacked by outcome, drawn as inline SVG. */
export function DeliveryChart({ stats }: { stats: Stats }) {
  const buckets = stats.buckets;
  const totals = { succeeded: 0, failed: 0, pending: 0 };
  for (const bucket of buckets) for (const o of outcomes) totals[o] += bucket[o];
  const max = Math.max(1, ...buckets.map((b) => b.succeeded + b.failed + b.pending));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const slot = plotW / Math.max(1, buckets.length);
  const barW = Math.max(2, slot * 0.7);
  const y = (n: number) => (n / max) * plotH;
  const summary = `Deliveries per hour over the last 24 hours: ${totals.succeeded} succeeded, ${totals.failed} failed, ${totals.pending} pending.`;

  return (
    <figure className="chart">
      <dl className="stats">
        <div>
          <dt>Success rate</dt>
          <dd>{stats.success_rate === null ? '—' : formatRate(stats.success_rate)}</dd>
        </div>
        <div>
          <dt>Attempts</dt>
          <dd>{stats.attempts}</dd>
        </div>
        <div>
          <dt>Median time</dt>
          <dd>{stats.p50_ms === null ? '—' : `${Math.round(stats.p50_ms)} ms`}</dd>
        </div>
        <div>
          <dt>95th percentile</dt>
          <dd>{stats.p95_ms === null ? '—' : `${Math.round(stats.p95_ms)} ms`}</dd>
        </div>
      </dl>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={summary}>
        <line
          x1={pad.left}
          x2={width - pad.right}
          y1={pad.top + plotH}
          y2={pad.top + plotH}
          className="axis"
        />
        <text x={pad.left - 6} y={pad.top + 8} textAnchor="end" className="tick">
          {max}
        </text>
        <text x={pad.left - 6} y={pad.top + plotH} textAnchor="end" className="tick">
          0
        </text>
        {buckets.map((bucket, i) => {
          const x = pad.left + i * slot + (slot - barW) / 2;
          let top = pad.top + plotH;
          return (
            <g key={bucket.start}>
              <title>
                {`${hourLabel(bucket.start)} UTC: ${bucket.succeeded} succeeded, ${bucket.failed} failed, ${bucket.pending} pending`}
              </title>
              {outcomes.map((o) => {
                const h = y(bucket[o]);
                top -= h;
                return h > 0 ? (
                  <rect key={o} x={x} y={top} width={barW} height={h} fill={colors[o]} />
                ) : null;
              })}
              {i % 6 === 0 ? (
                <text x={x + barW / 2} y={height - 6} textAnchor="middle" className="tick">
                  {hourLabel(bucket.start)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <span className="legend">
          {outcomes.map((o) => (
            <span key={o}>
              <span className="swatch" style={{ background: colors[o] }} /> {o} ({totals[o]})
            </span>
          ))}
        </span>
        <span className="muted">Hours in UTC.</span>
      </figcaption>
    </figure>
  );
}
