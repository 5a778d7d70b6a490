import { formatRelative } from '../format.js';

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
