// The monitoring stack's own files (swarm-stacks/monitoring/): Prometheus's configuration and alert
// rules, Alertmanager's route to Rocket.Chat, Grafana's data sources and dashboard, Loki and the
// Alloy log shipper, and the script of the Rocket.Chat incoming integration. The rules every stack
// keeps (health checks, memory, placement, secrets, configs, networks, ports) are in
// swarm-stacks.test.ts. There is no Prometheus, promtool or Grafana here: the files are rendered
// as `infra deploy` renders them, parsed, and checked against each other, against the stack file
// and against the metric names the Worker exports (docs/metrics.md) and node-exporter's.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import vm from "node:vm";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { z } from "zod";
import { loadEnvironment } from "../../infra/config.ts";
import { MAX_CONFIG_BYTES, renderConfig, stackConfigs, type SwarmConfig } from "../../infra/deploy.ts";
import { REPOSITORY_ROOT } from "./support/infra.ts";

// ---------------------------------------------------------------------------------------------
// The stack file and its configs, rendered for the example environment

const environmentsDir = join(REPOSITORY_ROOT, "infra", "environments");
const SHIPPED = ["dev", "staging", "prod", "example"];

const strictYaml = (text: string, source: string): unknown => {
  const document = parseDocument(text, { version: "1.1", uniqueKeys: true });
  const problems = [...document.errors, ...document.warnings].map((problem) => problem.message);
  if (problems.length > 0) throw new Error(`${source}: ${problems.join("; ")}`);
  return document.toJS();
};

const fileRef = z.union([z.string(), z.object({ source: z.string(), target: z.string().optional() })]);
const serviceSchema = z.object({
  image: z.string(),
  command: z.union([z.string(), z.array(z.string())]).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  configs: z.array(fileRef).optional(),
  secrets: z.array(fileRef).optional(),
  volumes: z.array(z.union([z.string(), z.object({ type: z.string(), source: z.string().optional(), target: z.string(), read_only: z.boolean().optional() })])).optional(),
  networks: z.array(z.string()).optional(),
  ports: z.array(z.unknown()).optional(),
  hostname: z.string().optional(),
  healthcheck: z.object({ test: z.array(z.string()) }),
  deploy: z.object({
    mode: z.string().optional(),
    placement: z.object({ constraints: z.array(z.string()).optional() }).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  logging: z.object({ driver: z.string(), options: z.record(z.string(), z.string()) }),
});
type Service = z.infer<typeof serviceSchema>;
const stackSchema = z.object({
  services: z.record(z.string(), serviceSchema),
  networks: z.record(z.string(), z.object({ external: z.boolean().optional(), name: z.string().optional() }).nullable()),
});

const stackText = readFileSync(join(REPOSITORY_ROOT, "swarm-stacks", "monitoring.yml"), "utf8");
const stack = stackSchema.parse(strictYaml(stackText, "monitoring.yml"));
const service = (name: string): Service => {
  const found = stack.services[name];
  if (!found) throw new Error(`monitoring.yml has no service ${name}`);
  return found;
};
const refs = (list: Service["configs"]) => (list ?? []).map((ref) => (typeof ref === "string" ? { source: ref, target: `/${ref}` } : { source: ref.source, target: ref.target ?? `/${ref.source}` }));
/** Where the service sees the config `key`. */
const configTarget = (name: string, key: string) => refs(service(name).configs).find((ref) => ref.source === key)?.target;
/** The files under /run/secrets/ the service sees, by secret name. */
const secretFiles = (name: string) => new Map((service(name).secrets ?? []).map((ref) => (typeof ref === "string" ? [ref, `/run/secrets/${ref}`] : [ref.source, `/run/secrets/${ref.target ?? ref.source}`])));
const argsOf = (name: string) => {
  const command = service(name).command;
  return command === undefined ? [] : typeof command === "string" ? command.split(/\s+/) : command;
};
const flag = (name: string, key: string) => argsOf(name).find((arg) => arg.startsWith(`${key}=`))?.slice(key.length + 1);
const pinnedNode = (entry: Service) => (entry.deploy.placement?.constraints ?? []).map((constraint) => /^node\.labels\.node\s*==\s*([123])$/.exec(constraint)?.[1]).find((node) => node !== undefined) ?? null;
const imageRepository = (image: string) => /([^/:]+)(?::[^/]*)?$/.exec(image)?.[1] ?? image;

const example = loadEnvironment(environmentsDir, "example");
const monitoringOf = (environment: ReturnType<typeof loadEnvironment>) => {
  const entry = environment.stacks.find((candidate) => candidate.file === "swarm-stacks/monitoring.yml");
  if (!entry) throw new Error(`${environment.name} does not deploy swarm-stacks/monitoring.yml`);
  return entry;
};
const configs = stackConfigs(REPOSITORY_ROOT, monitoringOf(example));
const config = (key: string): SwarmConfig => {
  const found = configs.find((candidate) => candidate.key === key);
  if (!found) throw new Error(`monitoring.yml declares no config ${key}`);
  return found;
};

// ---------------------------------------------------------------------------------------------
// Metric names: the Worker's (docs/metrics.md), node-exporter's, Prometheus's own

type Documented = { type: string; labels: Set<string> };

/** The metric tables of docs/metrics.md: name, type and label names (values in parentheses dropped). */
function documentedMetrics(markdown: string): Map<string, Documented> {
  const metrics = new Map<string, Documented>();
  for (const line of markdown.split("\n")) {
    const match = /^\|\s*`(edgeops_[a-z0-9_]+)`\s*\|\s*(counter|gauge|histogram|summary)\s*\|([^|]*)\|/.exec(line);
    if (!match?.[1] || !match[2]) continue;
    const labels = new Set([...(match[3] ?? "").replace(/\([^)]*\)/g, "").matchAll(/`([a-z_][a-z0-9_]*)`/g)].map((label) => label[1]!));
    metrics.set(match[1], { type: match[2], labels });
  }
  return metrics;
}

const metricsDoc = readFileSync(join(REPOSITORY_ROOT, "docs", "metrics.md"), "utf8");
const workerFamilies = documentedMetrics(metricsDoc);
/** The families the Worker's exposition writes (`out.family("name", "type", …)`), prefixed as it prefixes them. */
const exportedFamilies = [...readFileSync(join(REPOSITORY_ROOT, "workers", "metrics", "exposition.ts"), "utf8").matchAll(/\bout\.family\(\s*"([a-z0-9_]+)",\s*"(counter|gauge|histogram)"/g)].map(
  (match) => `edgeops_${match[1]} ${match[2]}`,
);
/** Series names the Worker exposes: a histogram's family is `_bucket`, `_sum` and `_count`. */
const workerSeries = new Map<string, { family: string; labels: Set<string> }>(
  [...workerFamilies].flatMap(([family, { type, labels }]) =>
    type === "histogram"
      ? [
          [`${family}_bucket`, { family, labels: new Set([...labels, "le"]) }],
          [`${family}_sum`, { family, labels: new Set([...labels].filter((label) => label !== "le")) }],
          [`${family}_count`, { family, labels: new Set([...labels].filter((label) => label !== "le")) }],
        ]
      : [[family, { family, labels }]],
  ),
);

/** node-exporter's metrics the rules and the dashboard use (checked against node_exporter v1.12.1 collector/, 2026-12-06). */
const NODE_EXPORTER_METRICS = new Set([
  "node_cpu_seconds_total",
  "node_memory_MemAvailable_bytes",
  "node_memory_MemTotal_bytes",
  "node_filesystem_avail_bytes",
  "node_filesystem_size_bytes",
  "node_load1",
  "node_uname_info",
]);
/** Series Prometheus makes itself: a target's health, and the alerts it evaluates. */
const PROMETHEUS_SERIES = new Set(["up", "ALERTS"]);

const PROMQL_KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan", "atan2"]);

/**
 * The metric names a PromQL expression selects: identifiers outside strings, label matchers,
 * ranges and grouping clauses that are neither functions (followed by "(") nor keywords.
 */
function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names: string[] = [];
  for (const match of bare.matchAll(/(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = bare.slice(match.index + match[0].length).trimStart();
    if (after.startsWith("(") || PROMQL_KEYWORDS.has(match[0].toLowerCase())) continue;
    names.push(match[0]);
  }
  return names;
}

/** `name{label op "value", …}` selectors of an expression, with their label names. */
const selectorsIn = (expr: string) =>
  [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)].map((match) => ({
    metric: match[1]!,
    matchers: [...match[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map((matcher) => ({ label: matcher[1]!, op: matcher[2]!, value: matcher[3]! })),
  }));

/** What is wrong with an expression's metric names and labels; empty when nothing. */
function problemsOf(expr: string): string[] {
  const problems: string[] = [];
  for (const name of metricNamesIn(expr)) {
    if (!workerSeries.has(name) && !NODE_EXPORTER_METRICS.has(name) && !PROMETHEUS_SERIES.has(name)) problems.push(`${name} is neither the Worker's (docs/metrics.md), node-exporter's nor Prometheus's`);
  }
  for (const { metric, matchers } of selectorsIn(expr)) {
    const worker = workerSeries.get(metric);
    if (!worker) continue;
    for (const { label, op, value } of matchers) {
      if (label === "job" || label === "instance") continue;
      if (!worker.labels.has(label)) problems.push(`${metric} has no label ${label}`);
      // A value the document never names (`backups`, `edge-ops-vectorize`, `partial`…) is a typo.
      else if (op === "=" && !metricsDoc.includes(`\`${value}\``)) problems.push(`${metric}{${label}="${value}"}: docs/metrics.md names no such value`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Parsed configs

const scrapeJobSchema = z.object({
  job_name: z.string(),
  scheme: z.string().optional(),
  metrics_path: z.string().optional(),
  authorization: z.object({ type: z.string().optional(), credentials: z.string().optional(), credentials_file: z.string().optional() }).optional(),
  static_configs: z.array(z.object({ targets: z.array(z.string()) })).optional(),
  dns_sd_configs: z.array(z.object({ names: z.array(z.string()), type: z.string(), port: z.number() })).optional(),
});
const prometheusSchema = z.object({
  rule_files: z.array(z.string()),
  alerting: z.object({ alertmanagers: z.array(z.object({ static_configs: z.array(z.object({ targets: z.array(z.string()) })) })) }),
  scrape_configs: z.array(scrapeJobSchema),
});
const ruleSchema = z.strictObject({
  alert: z.string().regex(/^[A-Z][A-Za-z]+$/),
  expr: z.string(),
  for: z.string().regex(/^\d+[smh]$/).optional(),
  labels: z.strictObject({ severity: z.enum(["critical", "warning"]) }),
  annotations: z.strictObject({ summary: z.string().min(1), description: z.string().min(1) }),
});
const rulesSchema = z.strictObject({ groups: z.array(z.strictObject({ name: z.string(), rules: z.array(ruleSchema) })) });
type Route = { receiver?: string | undefined; routes?: Route[] | undefined };
const routeSchema: z.ZodType<Route> = z.lazy(() => z.object({ receiver: z.string().optional(), routes: z.array(routeSchema).optional() }));
const alertmanagerSchema = z.object({
  route: routeSchema,
  receivers: z.array(z.object({ name: z.string(), webhook_configs: z.array(z.object({ url: z.string().optional(), url_file: z.string().optional(), send_resolved: z.boolean().optional() })).optional() })),
});

const prometheus = prometheusSchema.parse(strictYaml(config("prometheus_yml").content, "prometheus.yml"));
const rules = rulesSchema.parse(strictYaml(config("prometheus_rules").content, "rules.yml")).groups.flatMap((group) => group.rules);
const alertmanager = alertmanagerSchema.parse(strictYaml(config("alertmanager_yml").content, "alertmanager.yml"));
const jobNames = prometheus.scrape_configs.map((job) => job.job_name);

/** `job="x"` and `job=~"a|b"` in an expression: the jobs it names. */
const jobsIn = (expr: string) => selectorsIn(expr).flatMap(({ matchers }) => matchers.filter((matcher) => matcher.label === "job").flatMap((matcher) => (matcher.op === "=~" ? matcher.value.split("|") : [matcher.value])));

describe("the metric names", () => {
  it("come from docs/metrics.md, which lists exactly the families the Worker's exposition writes", () => {
    expect(exportedFamilies.length).toBeGreaterThan(20);
    expect([...workerFamilies].map(([name, { type }]) => `${name} ${type}`).sort()).toEqual([...exportedFamilies].sort());
  });
});

describe("docker configs as infra deploy makes them", () => {
  it("fill only the stack's upper-case ${NAME}s, leaving $$, $labels and Grafana's variables alone, and name what is missing", () => {
    const text = 'a: ${HOST}\nb: ${PORT:-9090}\nc: "{{ $labels.job }} $$ $__rate_interval ${__field.name}"\nd: ${LEVEL:?set LEVEL}';
    expect(renderConfig(text, { HOST: "x$y", LEVEL: "warn" }, "f.yml")).toBe('a: x$y\nb: 9090\nc: "{{ $labels.job }} $$ $__rate_interval ${__field.name}"\nd: warn');
    expect(() => renderConfig(text, {}, "f.yml")).toThrow("f.yml needs HOST, LEVEL");
  });

  it("refuse a config without x-file, or one whose file is missing, naming it", () => {
    const root = mkdtempSync(join(tmpdir(), "stack-configs-"));
    mkdirSync(join(root, "stacks"));
    const write = (configs: string) => writeFileSync(join(root, "stacks", "s.yml"), `version: "3.9"\nservices: {}\nconfigs:\n${configs}`);
    const stack = { name: "s", file: "stacks/s.yml", variables: {} };
    write("  a_conf:\n    external: true\n    name: ${A_CONF_CONFIG}\n");
    expect(() => stackConfigs(root, stack)).toThrow("stacks/s.yml: config a_conf must be external: true with name: ${A_CONF_CONFIG} and x-file");
    write("  a_conf:\n    external: true\n    name: ${A_CONF_CONFIG}\n    x-file: conf/a.yml\n");
    expect(() => stackConfigs(root, stack)).toThrow(/ENOENT.*conf\/a\.yml/);
    mkdirSync(join(root, "stacks", "conf"));
    writeFileSync(join(root, "stacks", "conf", "a.yml"), "x: 1\n");
    const [made] = stackConfigs(root, stack);
    expect(made).toMatchObject({ key: "a_conf", file: "stacks/conf/a.yml", content: "x: 1\n", dockerName: expect.stringMatching(/^a_conf_[0-9a-f]{12}$/) });
    writeFileSync(join(root, "stacks", "conf", "a.yml"), "x: 2\n");
    expect(stackConfigs(root, stack)[0]?.dockerName, "a changed file is a new config").not.toBe(made?.dockerName);
  });
});

describe("the monitoring stack's files", () => {
  it("render for every shipped environment as infra deploy renders them, into valid YAML and JSON under the docker config limit", () => {
    for (const name of SHIPPED) {
      const environment = loadEnvironment(environmentsDir, name);
      const rendered = stackConfigs(REPOSITORY_ROOT, monitoringOf(environment));
      expect(rendered.map((entry) => entry.key).sort(), name).toEqual(configs.map((entry) => entry.key).sort());
      for (const entry of rendered) {
        expect(entry.content, `${name}: ${entry.file}`).not.toMatch(/\$\{[A-Z]/);
        expect(Buffer.byteLength(entry.content)).toBeLessThan(MAX_CONFIG_BYTES);
        if (/\.ya?ml$/.test(entry.file)) expect(() => strictYaml(entry.content, entry.file)).not.toThrow();
        if (entry.file.endsWith(".json")) expect(() => JSON.parse(entry.content) as unknown).not.toThrow();
      }
      expect(rendered.find((entry) => entry.key === "prometheus_yml")?.content).toContain(`- targets: ["${monitoringOf(environment).variables.WORKER_HOST}"]`);
    }
  });

  it("hold no secret: tokens and URLs with tokens are read from docker secrets by path", () => {
    const worker = prometheus.scrape_configs.find((job) => job.job_name === "worker");
    expect(worker?.authorization?.credentials).toBeUndefined();
    for (const receiver of alertmanager.receivers) for (const webhook of receiver.webhook_configs ?? []) expect(webhook.url, receiver.name).toBeUndefined();
    for (const entry of configs) expect(entry.content, entry.file).not.toMatch(/\/hooks\/[A-Za-z0-9]|password:\s*\S|bearer_token:/i);
    const grafana = service("grafana").environment ?? {};
    expect(grafana["GF_SECURITY_ADMIN_PASSWORD"]).toBeUndefined();
    expect(grafana["GF_SECURITY_ADMIN_PASSWORD__FILE"]).toBe(secretFiles("grafana").get("grafana_admin_password"));
  });
});

describe("Prometheus", () => {
  it("loads its configuration and the rules from where the stack mounts them", () => {
    expect(flag("prometheus", "--config.file")).toBe(configTarget("prometheus", "prometheus_yml"));
    expect(prometheus.rule_files).toEqual([configTarget("prometheus", "prometheus_rules")]);
  });

  it("scrapes the Worker's /api/metrics over HTTPS with METRICS_TOKEN from its docker secret", () => {
    const worker = prometheus.scrape_configs.find((job) => job.job_name === "worker");
    expect(worker).toMatchObject({ scheme: "https", metrics_path: "/api/metrics", authorization: { type: "Bearer" } });
    expect(worker?.authorization?.credentials_file).toBe(secretFiles("prometheus").get("metrics_token"));
    expect(worker?.static_configs).toEqual([{ targets: [example.stacks.find((entry) => entry.name === "monitoring")?.variables.WORKER_HOST] }]);
  });

  it("finds node-exporter and Alloy on every node through Swarm DNS, and the stack's other services by name", () => {
    expect(new Set(jobNames).size).toBe(jobNames.length);
    const node = prometheus.scrape_configs.find((job) => job.job_name === "node");
    expect(node?.dns_sd_configs).toEqual([{ names: ["tasks.node-exporter"], type: "A", port: 9100 }]);
    for (const job of prometheus.scrape_configs) {
      for (const name of (job.dns_sd_configs ?? []).flatMap((sd) => sd.names)) {
        const target = /^tasks\.(.+)$/.exec(name)?.[1] ?? "";
        expect(stack.services[target]?.deploy.mode, `${job.job_name}: ${name} is a global service of the stack`).toBe("global");
      }
      if (job.job_name === "worker") continue;
      for (const target of (job.static_configs ?? []).flatMap((group) => group.targets)) {
        const host = target.split(":")[0] ?? "";
        expect(host === "localhost" || host in stack.services, `${job.job_name}: ${target}`).toBe(true);
      }
    }
    const alertmanagers = prometheus.alerting.alertmanagers.flatMap((entry) => entry.static_configs.flatMap((group) => group.targets));
    expect(alertmanagers).toEqual(["alertmanager:9093"]);
    expect(JSON.stringify(service("alertmanager").healthcheck.test)).toContain("127.0.0.1:9093");
  });
});

describe("the alert rules", () => {
  it("cover what an operator must act on: intake stalled, dead letters, a backup missed, partial or failed, a node down, the Worker's metrics gone", () => {
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining(["IntakeStalled", "DeadLettersGrowing", "BackupMissed", "BackupPartial", "BackupFailed", "NodeDown", "WorkerMetricsDown"]),
    );
    expect(new Set(rules.map((rule) => rule.alert)).size).toBe(rules.length);
  });

  it("name only metrics the Worker exports (with their labels), node-exporter's or Prometheus's, and jobs Prometheus scrapes", () => {
    for (const rule of rules) {
      expect(problemsOf(rule.expr), rule.alert).toEqual([]);
      for (const job of jobsIn(rule.expr)) expect(jobNames, `${rule.alert}: job ${job}`).toContain(job);
    }
  });

  it("count the nodes, since a node that is down drops out of Swarm DNS instead of reporting up == 0", () => {
    const nodeDown = rules.find((rule) => rule.alert === "NodeDown");
    expect(nodeDown?.expr).toMatch(/count\(up\{job="node"\} == 1\) or vector\(0\)\) < 3/);
    expect(example.nodes).toBe(3);
  });

  it("can fail: an unknown metric, a label the metric lacks, a function or keyword are told apart", () => {
    expect(metricNamesIn('sum by (queue) (increase(edgeops_dead_letters_total{queue="a"}[1h])) > 0 and on() vector(1)')).toEqual(["edgeops_dead_letters_total"]);
    expect(metricNamesIn("histogram_quantile(0.95, sum by (le) (rate(edgeops_bot_answer_duration_seconds_bucket[$__rate_interval]))) * 1e3")).toEqual(["edgeops_bot_answer_duration_seconds_bucket"]);
    expect(problemsOf("edgeops_intake_stalled_seconds > 0")).toEqual(["edgeops_intake_stalled_seconds is neither the Worker's (docs/metrics.md), node-exporter's nor Prometheus's"]);
    expect(problemsOf('edgeops_dead_letters_open{outcome="x"} > 0')).toEqual(["edgeops_dead_letters_open has no label outcome"]);
    expect(problemsOf('edgeops_capability_status{capability="bakups"} == 1')).toEqual(['edgeops_capability_status{capability="bakups"}: docs/metrics.md names no such value']);
    expect(jobsIn('up{job=~"loki|alloy"} == 0')).toEqual(["loki", "alloy"]);
  });
});

describe("Alertmanager", () => {
  it("sends every alert, resolved ones too, to the Rocket.Chat incoming integration whose URL is a docker secret", () => {
    expect(flag("alertmanager", "--config.file")).toBe(configTarget("alertmanager", "alertmanager_yml"));
    const receivers = new Map(alertmanager.receivers.map((receiver) => [receiver.name, receiver]));
    const named = (route: Route): string[] => [...(route.receiver ? [route.receiver] : []), ...(route.routes ?? []).flatMap(named)];
    for (const name of named(alertmanager.route)) expect(receivers.has(name), `receiver ${name}`).toBe(true);
    const [webhook, ...others] = receivers.get(alertmanager.route.receiver ?? "")?.webhook_configs ?? [];
    expect(others).toEqual([]);
    expect(webhook?.url_file).toBe(secretFiles("alertmanager").get("rocketchat_alerts_webhook_url"));
    expect(webhook?.send_resolved).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Grafana

const datasourcesSchema = z.object({ datasources: z.array(z.object({ uid: z.string(), type: z.string(), url: z.string() })) });
const providersSchema = z.object({ providers: z.array(z.object({ type: z.literal("file"), options: z.object({ path: z.string() }) })) });
type Panel = { id: number; type: string; title: string; datasource?: { type: string; uid: string }; gridPos: { x: number; y: number; w: number; h: number }; targets?: { datasource?: { uid: string; type: string }; expr: string }[]; panels?: Panel[] };
const panelSchema: z.ZodType<Panel> = z.lazy(() =>
  z.object({
    id: z.number().int(),
    type: z.string(),
    title: z.string().min(1),
    datasource: z.object({ type: z.string(), uid: z.string() }).optional(),
    gridPos: z.object({ x: z.number().int().min(0), y: z.number().int().min(0), w: z.number().int().min(1).max(24), h: z.number().int().min(1) }),
    targets: z.array(z.object({ datasource: z.object({ uid: z.string(), type: z.string() }).optional(), expr: z.string() })).optional(),
    panels: z.array(panelSchema).optional(),
  }),
);
const dashboardSchema = z.object({ uid: z.string().min(1), title: z.string().min(1), schemaVersion: z.number(), panels: z.array(panelSchema) });

const datasources = datasourcesSchema.parse(strictYaml(config("grafana_datasources").content, "grafana-datasources.yml")).datasources;
const dashboard = dashboardSchema.parse(JSON.parse(config("grafana_dashboard_edge_ops").content) as unknown);
const allPanels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
const targetsOf = (uid: string) => allPanels.flatMap((panel) => (panel.targets ?? []).filter((target) => (target.datasource ?? panel.datasource)?.uid === uid).map((target) => ({ panel, expr: target.expr })));

/** The Worker's families neither charted nor alerted on, and why. */
const NOT_CHARTED: Record<string, string> = {
  edgeops_info: "the environment's name only",
  edgeops_metrics_rollup_lag_seconds: "the Worker's own bookkeeping",
  edgeops_secrets_last_sync_timestamp_seconds: "the age beside it is charted",
};

describe("Grafana", () => {
  it("is provisioned from the stack's configs: data sources, the dashboard provider, the dashboard as the home page", () => {
    const datasourcesTarget = configTarget("grafana", "grafana_datasources") ?? "";
    expect(datasourcesTarget).toMatch(/^\/etc\/grafana\/provisioning\/datasources\/[\w.-]+\.ya?ml$/);
    expect(configTarget("grafana", "grafana_dashboards")).toMatch(/^\/etc\/grafana\/provisioning\/dashboards\/[\w.-]+\.ya?ml$/);
    const dashboardTarget = configTarget("grafana", "grafana_dashboard_edge_ops") ?? "";
    const [provider] = providersSchema.parse(strictYaml(config("grafana_dashboards").content, "grafana-dashboards.yml")).providers;
    expect(dashboardTarget.startsWith(`${provider?.options.path}/`)).toBe(true);
    expect(service("grafana").environment?.["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]).toBe(dashboardTarget);
  });

  it("reads Prometheus, Loki and Alertmanager by their service names and ports", () => {
    const urls = Object.fromEntries(datasources.map((source) => [source.type, source.url]));
    expect(urls).toEqual({ prometheus: "http://prometheus:9090", loki: "http://loki:3100", alertmanager: "http://alertmanager:9093" });
    const loki = z.object({ server: z.object({ http_listen_port: z.number() }) }).parse(strictYaml(config("loki_yml").content, "loki.yml"));
    expect(loki.server.http_listen_port).toBe(3100);
    expect(JSON.stringify(service("prometheus").healthcheck.test)).toContain("127.0.0.1:9090");
  });

  it("is routed by Traefik at ${GRAFANA_HOST}, the only routed service of the stack; Prometheus, Alertmanager and Loki are not even on Traefik's network", () => {
    const routed = Object.entries(stack.services).filter(([, entry]) => entry.deploy.labels?.["traefik.enable"] === "true").map(([name]) => name);
    expect(routed).toEqual(["grafana"]);
    expect(service("grafana").deploy.labels?.["traefik.http.routers.grafana.rule"]).toMatch(/^Host\(`\$\{GRAFANA_HOST(:\?[^}]*)?\}`\)$/);
    expect(service("grafana").environment?.["GF_SERVER_ROOT_URL"]).toMatch(/^https:\/\/\$\{GRAFANA_HOST(:\?[^}]*)?\}$/);
    // Traefik would route Grafana's own /metrics to the internet.
    expect(service("grafana").environment?.["GF_METRICS_ENABLED"]).toBe("false");
    const publicKey = Object.entries(stack.networks).find(([, network]) => network?.name === "edge-public")?.[0];
    for (const [name, entry] of Object.entries(stack.services)) {
      expect(entry.ports ?? [], name).toEqual([]);
      if (name !== "grafana") expect(entry.networks ?? [], name).not.toContain(publicKey);
    }
  });

  it("has a dashboard in valid JSON whose panels use provisioned data sources and do not overlap", () => {
    const uids = new Set(datasources.map((source) => source.uid));
    const ids = allPanels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of allPanels) {
      if (panel.datasource) expect(uids.has(panel.datasource.uid), panel.title).toBe(true);
      for (const target of panel.targets ?? []) if (target.datasource) expect(uids.has(target.datasource.uid), panel.title).toBe(true);
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
    }
    const cells = new Map<string, string>();
    for (const panel of allPanels) {
      for (let x = panel.gridPos.x; x < panel.gridPos.x + panel.gridPos.w; x++) {
        for (let y = panel.gridPos.y; y < panel.gridPos.y + panel.gridPos.h; y++) {
          expect(cells.get(`${x},${y}`), `${panel.title} overlaps`).toBeUndefined();
          cells.set(`${x},${y}`, panel.title);
        }
      }
    }
  });

  it("names only metrics the Worker exports (with their labels), node-exporter's or Prometheus's, and jobs Prometheus scrapes", () => {
    const targets = targetsOf("prometheus");
    expect(targets.length).toBeGreaterThan(20);
    for (const { panel, expr } of targets) {
      expect(problemsOf(expr), `${panel.title}: ${expr}`).toEqual([]);
      for (const job of jobsIn(expr)) expect(jobNames, `${panel.title}: job ${job}`).toContain(job);
    }
  });

  it("shows every figure the Worker exports, or alerts on it", () => {
    const used = new Set([...targetsOf("prometheus").map(({ expr }) => expr), ...rules.map((rule) => rule.expr)].flatMap(metricNamesIn).map((name) => workerSeries.get(name)?.family).filter((family) => family !== undefined));
    const missing = [...workerFamilies.keys()].filter((family) => !used.has(family) && !(family in NOT_CHARTED));
    expect(missing, "add a panel to swarm-stacks/monitoring/dashboard-edge-ops.json (or say why not in NOT_CHARTED)").toEqual([]);
    for (const family of Object.keys(NOT_CHARTED)) expect(workerFamilies.has(family), `${family} is no longer exported`).toBe(true);
  });

  it("queries Loki only by the labels Alloy sets", () => {
    const targets = targetsOf("loki");
    expect(targets.length).toBeGreaterThan(0);
    for (const { panel, expr } of targets) {
      const selector = /^\{([^}]*)\}/.exec(expr.trim())?.[1] ?? "";
      const labels = [...selector.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map((match) => match[1]);
      expect(labels.length, panel.title).toBeGreaterThan(0);
      for (const label of labels) expect(ALLOY_LABELS, `${panel.title}: ${label}`).toContain(label);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Loki and Alloy

const alloy = config("alloy_config").content;
/** The Loki labels the Alloy pipeline sets: stage.labels' keys and loki.write's external labels. */
const ALLOY_LABELS = [
  ...[...(/stage\.labels\s*\{\s*values\s*=\s*\{([^}]*)\}/.exec(alloy)?.[1] ?? "").matchAll(/(\w+)\s*=/g)].map((match) => match[1]),
  ...[...(/external_labels\s*=\s*\{([^}]*)\}/.exec(alloy)?.[1] ?? "").matchAll(/(\w+)\s*=/g)].map((match) => match[1]),
];

describe("Loki and Alloy", () => {
  it("ship every node's container logs read-only from Docker's json-file logs, not through the Docker API", () => {
    const alloyService = service("alloy");
    expect(alloyService.deploy.mode).toBe("global");
    expect(alloyService.volumes).toContainEqual({ type: "bind", source: "/var/lib/docker/containers", target: "/var/lib/docker/containers", read_only: true });
    expect(JSON.stringify(alloyService.volumes)).not.toContain("docker.sock");
    expect(alloy).toContain('"__path__" = "/var/lib/docker/containers/*/*-json.log"');
    expect(argsOf("alloy").slice(0, 2)).toEqual(["run", configTarget("alloy", "alloy_config")]);
    expect(alloy).toContain('url = "http://loki:3100/loki/api/v1/push"');
    expect(ALLOY_LABELS.sort()).toEqual(["node", "service", "stack", "stream"]);
  });

  it("label lines with the Swarm labels every stack's logging option adds", () => {
    const attrs = [...alloy.matchAll(/attrs\.\\"([^"\\]+)\\"/g)].map((match) => match[1]);
    expect(attrs.sort()).toEqual(["com.docker.stack.namespace", "com.docker.swarm.service.name"]);
    for (const file of ["core.yml", "apps.yml", "monitoring.yml"]) {
      const services = z.object({ services: z.record(z.string(), z.object({ logging: z.object({ options: z.record(z.string(), z.string()) }) })) }).parse(strictYaml(readFileSync(join(REPOSITORY_ROOT, "swarm-stacks", file), "utf8"), file)).services;
      for (const [name, entry] of Object.entries(services)) expect(entry.logging.options["labels"]?.split(","), `${file}: ${name}`).toEqual(expect.arrayContaining(attrs));
    }
  });

  it("keep logs 14 days: retention through the compactor, which needs a delete-request store", () => {
    const loki = z
      .object({ limits_config: z.object({ retention_period: z.string() }), compactor: z.object({ retention_enabled: z.literal(true), delete_request_store: z.string() }) })
      .parse(strictYaml(config("loki_yml").content, "loki.yml"));
    expect(loki.limits_config.retention_period).toBe("336h");
    expect(flag("loki", "-config.file")).toBe(configTarget("loki", "loki_yml"));
  });
});

describe("data and placement", () => {
  it("pins what keeps data (Prometheus, Alertmanager, Loki, Grafana) and runs the agents on every node", () => {
    expect(Object.fromEntries(Object.entries(stack.services).map(([name, entry]) => [name, entry.deploy.mode === "global" ? "global" : pinnedNode(entry)]))).toEqual({
      prometheus: "2",
      alertmanager: "2",
      "node-exporter": "global",
      alloy: "global",
      loki: "3",
      grafana: "3",
    });
    expect(Object.values(stack.services).map((entry) => imageRepository(entry.image)).sort()).toEqual(["alertmanager", "alloy", "grafana", "loki", "node-exporter", "prometheus"]);
  });
});

// ---------------------------------------------------------------------------------------------
// The Rocket.Chat incoming integration's script

type ScriptResult = { content?: { text: string }; error?: unknown };
const scriptSource = readFileSync(join(REPOSITORY_ROOT, "swarm-stacks", "monitoring", "rocketchat-alertmanager.js"), "utf8");
/** Runs the script as Rocket.Chat does: its class `Script`, `process_incoming_request({ request })` with the parsed body as `request.content`. */
function runScript(content: unknown): ScriptResult {
  const Script = vm.runInNewContext(`${scriptSource}\n;Script`, {}) as new () => { process_incoming_request(input: { request: { content: unknown } }): ScriptResult };
  return new Script().process_incoming_request({ request: { content } });
}

/** Alertmanager v0.34.0's webhook body (notify/webhook/webhook.go Message, template.Data). */
const alertmanagerBody = (status: "firing" | "resolved", alerts: { status: "firing" | "resolved"; labels: Record<string, string>; annotations: Record<string, string> }[], extra: Record<string, unknown> = {}) => ({
  version: "4",
  groupKey: '{}:{alertname="X"}',
  truncatedAlerts: 0,
  status,
  receiver: "rocketchat",
  groupLabels: {},
  commonLabels: { alertname: alerts[0]?.labels.alertname ?? "", ...(alerts.every((alert) => alert.labels.severity === alerts[0]?.labels.severity) ? { severity: alerts[0]?.labels.severity ?? "" } : {}) },
  commonAnnotations: {},
  externalURL: "http://alertmanager:9093",
  alerts: alerts.map((alert) => ({ ...alert, startsAt: "2026-12-06T03:17:42.512Z", endsAt: "0001-01-01T00:00:00Z", generatorURL: "http://prometheus:9090/graph", fingerprint: "a1b2c3d4e5f60718" })),
  ...extra,
});

describe("the Rocket.Chat script for Alertmanager's webhooks", () => {
  it("posts a firing critical alert with @here, its summary, where, since when, and what to do", () => {
    const rule = rules.find((candidate) => candidate.alert === "IntakeStalled")!;
    const result = runScript(alertmanagerBody("firing", [{ status: "firing", labels: { alertname: "IntakeStalled", severity: "critical", instance: "edge.example.com", job: "worker" }, annotations: { summary: "Webhook intake stalled: the oldest unprocessed event is 20m old", description: rule.annotations.description } }]));
    expect(result.error).toBeUndefined();
    expect(result.content?.text.split("\n")).toEqual([
      "@here :rotating_light: **FIRING** IntakeStalled (critical)",
      "• Webhook intake stalled: the oldest unprocessed event is 20m old [edge.example.com] since 2026-12-06 03:17:42 UTC",
      rule.annotations.description,
    ]);
  });

  it("lists a group's alerts, marks the resolved ones, and notifies no one for a warning", () => {
    const result = runScript(
      alertmanagerBody("firing", [
        { status: "firing", labels: { alertname: "DeadLettersGrowing", severity: "warning", queue: "edge-ops-vectorize" }, annotations: { summary: "New dead letters on edge-ops-vectorize" } },
        { status: "resolved", labels: { alertname: "DeadLettersGrowing", severity: "warning", queue: "edge-ops-bot" }, annotations: { summary: "New dead letters on edge-ops-bot" } },
      ], { commonAnnotations: { description: "fix the cause, then POST /api/dlq/replay" } }),
    );
    const text = result.content?.text ?? "";
    expect(text).not.toContain("@here");
    expect(text.split("\n")).toEqual([
      ":rotating_light: **FIRING** DeadLettersGrowing (warning)",
      "• New dead letters on edge-ops-vectorize [edge-ops-vectorize] since 2026-12-06 03:17:42 UTC",
      "• resolved: New dead letters on edge-ops-bot [edge-ops-bot] since 2026-12-06 03:17:42 UTC",
      "fix the cause, then POST /api/dlq/replay",
    ]);
  });

  it("says resolved without a mention, and how many alerts Alertmanager left out", () => {
    const resolved = runScript(alertmanagerBody("resolved", [{ status: "resolved", labels: { alertname: "NodeDown", severity: "critical" }, annotations: { summary: "Only 2 of 3 nodes report", description: "A node is down." } }], { truncatedAlerts: 4 }));
    expect(resolved.content?.text.split("\n")).toEqual([":white_check_mark: **RESOLVED** NodeDown (critical)", "• Only 2 of 3 nodes report since 2026-12-06 03:17:42 UTC", "…and 4 more"]);
  });

  it("makes a mention inside an alert's text inert and keeps the message under Rocket.Chat's size limit", () => {
    const many = Array.from({ length: 200 }, (_, index) => ({ status: "firing" as const, labels: { alertname: "CapabilityMisconfigured", severity: "warning", capability: `c${index}` }, annotations: { summary: `@all look at ${"x".repeat(40)}` } }));
    const text = runScript(alertmanagerBody("firing", many)).content?.text ?? "";
    expect(text).not.toMatch(/@all|@here/);
    expect(text).toContain("(at)all look at");
    expect(text.length).toBeLessThanOrEqual(4000);
  });

  it("refuses a body that is not Alertmanager's, posting nothing", () => {
    for (const body of [{ text: "hello" }, null, { status: "firing" }, { status: "pending", alerts: [] }]) {
      const result = runScript(body);
      expect(result.content).toBeUndefined();
      expect(result.error).toBeDefined();
    }
  });
});
