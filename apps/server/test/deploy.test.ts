/**
 * What `deploy/` ships for the people running the service: the Prometheus alerting rules pass
 * `promtool check rules` and their unit tests (`promtool test rules`: each alert fires when it
 * should, and only then), and every metric the rules and the Grafana dashboard query is one the
 * service exports. promtool is Debian's `prometheus` package: `.ci/run` installs it; elsewhere,
 * without it, the promtool tests are skipped with one line, except under `CI=true`, where they fail.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../src/metrics.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RULES = `${ROOT}deploy/prometheus/alerts.yml`;
const RULE_TESTS = `${ROOT}deploy/prometheus/alerts.test.yml`;
const DASHBOARD = `${ROOT}deploy/grafana/agentfactory-webhooks.json`;

const promtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
if (!promtool && process.env.CI !== 'true') {
  console.log('promtool not found (Debian package `prometheus`): skipping the alert rule checks');
}

describe.skipIf(!promtool && process.env.CI !== 'true')('deploy/prometheus/alerts.yml', () => {
  it('passes promtool check rules', () => {
    const out = execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: 4 rules found/);
  });

  it('passes its promtool unit tests: each alert fires on its series, not on the others', () => {
    const r = spawnSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });
});

describe('deploy/: the metrics queried exist', () => {
  it('every agentfactory_* metric of the rules and the dashboard is exported by the service', async () => {
    const text = await createMetrics({ defaultMetrics: false }).registry.metrics();
    const exported = new Set(
      [...text.matchAll(/^# TYPE (\w+) (\w+)/gm)].flatMap(([, name, type]) =>
        type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!],
      ),
    );
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const queries = [
      readFileSync(RULES, 'utf8'),
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
    ].join('\n');
    const used = new Set(queries.match(/agentfactory_\w+/g));
    expect(used.size).toBeGreaterThan(5);
    for (const name of used) expect(exported, name).toContain(name);
    // The dashboard shows what the issue asks of it.
    const titles = dashboard.panels.map((p) => p.title).join(' | ');
    for (const want of ['by outcome', 'duration percentiles', 'Backlog and its age', 'failing']) {
      expect(titles).toContain(want);
    }
  });
});
