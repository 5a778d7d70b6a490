/**
 * A receiver's response body as the API records it: the text, or, when the bytes were not text
 * (NUL bytes, invalid UTF-8, a compressed page), their base64 with a word on why.
 */
export function ResponseBody({
  body,
  encoding,
}: {
  body: string | null;
  encoding: 'utf8' | 'base64' | null;
}) {
  if (!body) return <p className="muted">Empty.</p>;
  if (encoding !== 'base64') return <pre>{body}</pre>;
  const bytes = Math.floor((body.length * 3) / 4) - (body.match(/=+$/)?.[0].length ?? 0);
  return (
    <>
      <p className="help">
        Not text ({bytes} bytes: NUL bytes, invalid UTF-8 or compressed data), shown as base64:
      </p>
      <pre className="binary">{body}</pre>
    </>
  );
}
