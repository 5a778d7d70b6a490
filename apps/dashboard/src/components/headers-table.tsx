/** Request or response headers as a two-column table. */
export function HeadersTable({
  headers,
  caption,
}: {
  headers: Record<string, string> | null | undefined;
  caption: string;
}) {
  const entries = Object.entries(headers ?? {});
  if (entries.length === 0) {
    return <p className="muted">{caption}: none recorded.</p>;
  }
  return (
    <div className="table-wrap">
      <table className="headers">
        <caption>{caption}</caption>
        <tbody>
          {entries.map(([name, value]) => (
            <tr key={name}>
              <th scope="row">{name}</th>
              <td>
                <code>{value}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
