/**
 * docker/docker-compose.yml, the network-alias deployment, and its rollback override:
 * who holds the `rabbitmq` alias before and after, what the applications dial, which ports
 * are published, and that the observability wiring points at services that exist.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';

import { aliases, bindMounts, environment, loadCompose, mergeCompose, publishedPorts, readComposeFile, type ComposeModel } from '../../support/compose';
import { REPO_ROOT } from '../../support/dockerfileSteps';

const DOCKER = join(REPO_ROOT, 'docker');
const BASE = join(DOCKER, 'docker-compose.yml');
const BYPASS = join(DOCKER, 'docker-compose.bypass.yml');
const NETWORK = 'amqp';
const PROXY = 'amqp-trace-proxy';
const BROKER = 'rabbitmq-broker';
const APPS = ['gateway', 'celery-worker'];

const base = loadCompose(BASE);
const bypassed = loadCompose(BASE, BYPASS);

function holders(model: ComposeModel, alias: string): string[] {
  return Object.entries(model.services).filter(([name, s]) => name === alias || aliases(s, NETWORK).includes(alias)).map(([name]) => name);
}

test('forward: the proxy holds the rabbitmq alias, alone', () => {
  assert.equal(holders(base, 'rabbitmq'), [PROXY]);
});

test('rollback override: the alias moves to the broker and leaves the proxy', () => {
  assert.equal(holders(bypassed, 'rabbitmq'), [BROKER]);
  assert.ok(aliases(bypassed.services[PROXY]!, NETWORK).length > 0, 'the proxy keeps a name of its own');
  assert.equal(Object.keys(bypassed.services).sort(), Object.keys(base.services).sort(), 'no service added or removed');
});

test('the override needs !override: with plain list merging the proxy would keep the alias', () => {
  const raw = readComposeFile(BYPASS);
  const naive = JSON.parse(JSON.stringify(raw, (_k, v: unknown) => (v && typeof v === 'object' && 'tag' in v && 'value' in v ? (v as { value: unknown }).value : v)));
  const merged = mergeCompose(readComposeFile(BASE), naive) as ComposeModel;
  assert.ok(holders(merged, 'rabbitmq').includes(PROXY), 'the merge model appends lists, as Compose does');
});

test('the proxy listens where applications dial and forwards to the broker by its own name', () => {
  const env = environment(base.services[PROXY]!);
  assert.is(env['PROXY_LISTEN'], '0.0.0.0:5672');
  assert.is(env['PROXY_UPSTREAM'], `amqp://${BROKER}:5672`);
  assert.is(env['ENABLE_TRACE_PROPAGATION'], 'true');
  assert.match(env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '', /^http:\/\/otel-collector:4317$/);
  assert.ok(base.services[PROXY]!.depends_on && BROKER in (base.services[PROXY]!.depends_on as Record<string, unknown>));
});

test('applications keep amqp://guest:guest@rabbitmq:5672 in both modes', () => {
  for (const model of [base, bypassed]) {
    for (const app of APPS) {
      const urls = Object.entries(environment(model.services[app]!)).filter(([k]) => /AMQP_URL|BROKER_URL/.test(k)).map(([, v]) => v);
      assert.equal(urls, ['amqp://guest:guest@rabbitmq:5672'], app);
    }
  }
});

test('the broker is health-checked and the apps wait for a healthy proxy', () => {
  assert.ok(base.services[BROKER]!.healthcheck?.test, 'broker healthcheck');
  assert.is(base.services[BROKER]!.image, 'rabbitmq:4.0-management');
  for (const app of APPS) {
    const deps = base.services[app]!.depends_on as Record<string, { condition?: string }>;
    assert.is(deps[PROXY]?.condition, 'service_healthy', app);
  }
});

test('the bypass switch exists: the mode file is mounted where PROXY_MODE_FILE points', () => {
  const proxy = base.services[PROXY]!;
  const file = environment(proxy)['PROXY_MODE_FILE']!;
  const mount = bindMounts(proxy).find((m) => file.startsWith(`${m.target}/`));
  assert.ok(mount, 'a bind mount holds the mode file');
  const content = readFileSync(join(DOCKER, mount!.source, file.slice(mount!.target.length + 1)), 'utf8').trim();
  assert.ok(['tracing', 'bypass'].includes(content), content);
});

test('every service has an image or a build, and depends only on services that exist', () => {
  for (const [name, s] of Object.entries(base.services)) {
    assert.ok(s.image || s.build, `${name}: image or build`);
    const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
    for (const d of deps) assert.ok(d in base.services, `${name} depends on missing ${d}`);
    for (const net of Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {})) assert.ok(net in (base.networks ?? {}), `${name}: network ${net}`);
  }
});

test('published host ports do not collide, in either mode', () => {
  for (const model of [base, bypassed]) {
    const seen = new Map<string, string>();
    for (const [name, s] of Object.entries(model.services)) {
      for (const p of publishedPorts(s)) {
        for (const [key, owner] of seen) {
          const [ip, port, proto] = key.split('|');
          const overlap = Number(port) === p.published && proto === p.protocol && (ip === p.hostIp || ip === '0.0.0.0' || p.hostIp === '0.0.0.0');
          assert.not.ok(overlap, `${name} and ${owner} both publish ${p.published}/${p.protocol}`);
        }
        seen.set(`${p.hostIp}|${p.published}|${p.protocol}`, name);
      }
    }
    assert.ok(seen.size >= 6, 'the UIs and endpoints are published');
  }
});

test('OTLP: the collector fans out to Jaeger and Tempo, every pipeline component is defined', () => {
  const config = parse(readFileSync(join(DOCKER, 'otel-collector.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  const pipelines = (config['service']!['pipelines'] as Record<string, Record<string, string[]>>);
  for (const [name, p] of Object.entries(pipelines)) {
    for (const kind of ['receivers', 'processors', 'exporters']) {
      for (const id of p[kind] ?? []) assert.ok(id in (config[kind] ?? {}), `${name}: ${kind} ${id} is defined`);
    }
  }
  const exporters = config['exporters'] as Record<string, { endpoint: string }>;
  const hosts = pipelines['traces']!['exporters']!.map((id) => exporters[id]!.endpoint.split(':')[0]);
  assert.equal(hosts.sort(), ['jaeger', 'tempo']);
  for (const h of hosts) assert.ok(h! in base.services, h);
});

test('Tempo generates the service graph and remote-writes it to Prometheus, which accepts it', () => {
  const tempo = parse(readFileSync(join(DOCKER, 'tempo.yaml'), 'utf8')) as {
    metrics_generator: { storage: { remote_write: { url: string }[] } };
    overrides: { defaults: { metrics_generator: { processors: string[] } } };
  };
  assert.ok(tempo.overrides.defaults.metrics_generator.processors.includes('service-graphs'));
  const url = new URL(tempo.metrics_generator.storage.remote_write[0]!.url);
  assert.ok(url.hostname in base.services);
  assert.ok((base.services[url.hostname]!.command as string[]).includes('--web.enable-remote-write-receiver'));
});

test('Prometheus scrapes the proxy and Tempo and loads the mounted rule file', () => {
  const prom = parse(readFileSync(join(DOCKER, 'prometheus.yml'), 'utf8')) as {
    rule_files: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  };
  const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
  for (const t of targets) {
    const host = t.split(':')[0]!;
    assert.ok(host === 'localhost' || host in base.services, t);
  }
  assert.ok(targets.includes(`${PROXY}:9464`));
  assert.ok(targets.some((t) => t.startsWith('tempo:')));
  const ruleMount = bindMounts(base.services['prometheus']!).find((m) => m.source === '../observability/prometheus-rules.yml');
  assert.ok(ruleMount, 'the alert rules are mounted');
  const glob = new RegExp(`^${prom.rule_files[0]!.replace(/[.]/g, '\\.').replace('*', '[^/]*')}$`);
  assert.match(ruleMount!.target, glob);
});

test('Grafana: Prometheus, Tempo and Jaeger data sources on live services; the dashboard in the provider path', () => {
  const ds = parse(readFileSync(join(DOCKER, 'grafana/provisioning/datasources/datasources.yaml'), 'utf8')) as {
    datasources: { type: string; uid: string; url: string; jsonData?: { serviceMap?: { datasourceUid: string } } }[];
  };
  assert.equal(ds.datasources.map((d) => d.type).sort(), ['jaeger', 'prometheus', 'tempo']);
  const uids = new Set(ds.datasources.map((d) => d.uid));
  for (const d of ds.datasources) assert.ok(new URL(d.url).hostname in base.services, d.url);
  const tempo = ds.datasources.find((d) => d.type === 'tempo')!;
  assert.ok(uids.has(tempo.jsonData!.serviceMap!.datasourceUid), 'the service map reads the Prometheus data source');
  const providers = parse(readFileSync(join(DOCKER, 'grafana/provisioning/dashboards/dashboards.yaml'), 'utf8')) as { providers: { options: { path: string } }[] };
  const dashboard = bindMounts(base.services['grafana']!).find((m) => m.source === '../observability/grafana-dashboard.json');
  assert.ok(dashboard, 'the dashboard is mounted');
  assert.ok(dashboard!.target.startsWith(`${providers.providers[0]!.options.path}/`));
});

test.run();
