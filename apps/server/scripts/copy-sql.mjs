// Copies the SQL the server reads at run time (`src/**/*.sql`: both stores' migrations and the
// PostgreSQL functions) into `dist/` at the same paths, since tsc emits only JavaScript. The
// `.sql` files of an earlier build go first: the migrations are read from a directory listing, where a file
// since renamed or removed would still count.
import { cpSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

for (const file of readdirSync('dist', { recursive: true, encoding: 'utf8' })) {
  if (file.endsWith('.sql')) rmSync(join('dist', file));
}
cpSync('src', 'dist', {
  recursive: true,
  filter: (path) => path.endsWith('.sql') || statSync(path).isDirectory(),
});
