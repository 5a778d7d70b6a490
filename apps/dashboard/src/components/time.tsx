const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1000],
];
const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** "3 minutes ago", with the exact UTC time in the title and `datetime`. */
export function Time({
  iso,
  fallback = '—',
}: {
  iso: string | null | undefined;
  fallback?: string;
}) {
  if (!iso) return <span>{fallback}</span>;
  const when = new Date(iso);
  return (
    <time dateTime={iso} title={when.toUTCString()}>
      {formatRelative(when.getTime() - Date.now())}
    </time>
  );
}

export function formatRelative(deltaMs: number): string {
  for (const [unit, size] of units) {
    if (Math.abs(deltaMs) >= size || unit === 'second') {
      return relative.format(Math.round(deltaMs / size), unit);
    }
  }
  return '';
}

export function formatUtc(iso: string): string {
  return `${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')} UTC`;
}
