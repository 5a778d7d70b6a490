/** Short texts for tables. */

export function eventsSummary(events: string[]): string {
  if (events.includes('*')) return 'All events';
  if (events.length <= 3) return events.join(', ');
  return `${events.slice(0, 2).join(', ')} and ${events.length - 2} more`;
}

/** `success_rate` is a fraction 0–1; never rounds a failure away (99.96 % shows as 99.9 %). */
export function formatRate(rate: number): string {
  if (rate >= 1) return '100%';
  if (rate <= 0) return '0%';
  const percent = Math.min(99.9, Math.max(0.1, Math.floor(rate * 1000) / 10));
  return `${Number.isInteger(percent) ? percent.toFixed(0) : percent.toFixed(1)}%`;
}

const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1000],
];
const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** `-180000` → "3 minutes ago". */
export function formatRelative(deltaMs: number): string {
  for (const [unit, size] of units) {
    if (Math.abs(deltaMs) >= size || unit === 'second') {
      return relative.format(Math.round(deltaMs / size), unit);
    }
  }
  return '';
}

/** `2024-01-15T10:35:00.123Z` → `2024-01-15 10:35:00 UTC`. */
export function formatUtc(iso: string): string {
  return `${iso.replace('T', ' ').replace(/(\.\d+)?Z$/, '')} UTC`;
}
