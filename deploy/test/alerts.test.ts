// The alert rules (deploy/prometheus/alerts.yaml): `promtool check rules` accepts them, the
// PrometheusRule in the kustomize base carries them unchanged, and `promtool test rules`
// shows each alert firing on a series that means trouble and staying silent on a healthy
// scrape of the running services (crypto + wallet as processes, real traffic, both
// /metrics scraped and replayed as an hour of steady state).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { reportSkip } from "@cv-wallet/common/testing/skips";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parse, stringify } from "yaml";
import { prometheusRuleFile, prometheusRuleYaml, rulesFile } from "../prometheus/sync-rule.ts";
import { at, which } from "./support/paths.ts";
import { freePort, type Service, serviceToken, startCrypto, startWallet } from "./support/processes.ts";
import { userWithToken, WalletHttp } from "./support/wallet-http.ts";

/**
 * Every metric the rules use, by the service that must expose it (with its `service` label),
 * under the services' metrics convention. Reconcile here when a metric is renamed.
 */
const RULE_METRICS = {
  crypto: [
    "cvw_crypto_kms_calls_total",
    "cvw_crypto_kms_call_duration_seconds_bucket",
    "cvw_crypto_rpc_calls_total",
    "cvw_crypto_dek_cache_hits_total",
    "cvw_crypto_dek_cache_misses_total",
    "process_resident_memory_bytes",
    "nodejs_eventloop_lag_p99_seconds",
  ],
  wallet: [
    "wallet_http_request_duration_seconds_count",
    "wallet_http_request_duration_seconds_bucket",
    "wallet_rpc_duration_seconds_count",
    "wallet_rpc_duration_seconds_bucket",
    "wallet_crypto_call_duration_seconds_count",
    "wallet_key_retrievals_total",
    "process_resident_memory_bytes",
    "nodejs_eventloop_lag_p99_seconds",
  ],
  /** From kube-state-metrics, not from the services. */
  external: ["kube_deployment_status_replicas_available"],
} as const;

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const rules: Rule[] = (parse(readFileSync(rulesFile, "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);

interface Series {
  series: string;
  values: string;
}
interface Trouble {
  series: Series[];
  /** When to look (past the rule's `for`), as a promtool duration. */
  at: string;
  /** The alert's labels besides the rule's own (those the expression keeps). */
  labels?: Record<string, string>;
  /** The interval of the input series (default 1m). */
  interval?: string;
  /** How often promtool evaluates the rules (default 1m): a week of 1m steps takes long. */
  evaluation?: string;
}
const c = `service="crypto",job="cv-wallet-crypto",instance="10.0.0.7:9464"`;
const w = `service="wallet",job="cv-wallet-wallet",instance="10.0.0.9:8080"`;
const histogram = (name: string, labels: string, perMinute: Record<string, number>): Series[] =>
  Object.entries(perMinute).map(([le, n]) => ({ series: `${name}{${labels},le="${le}"}`, values: `0+${n}x40` }));

/** A series that means trouble, per alert. */
const TROUBLE: Record<string, Trouble> = {
  CvWalletKmsFailing: {
    series: [
      {
        series: `cvw_crypto_kms_calls_total{${c},provider="aws",operation="decrypt",outcome="error"}`,
        values: "0+4x30",
      },
      { series: `cvw_crypto_kms_calls_total{${c},provider="aws",operation="decrypt",outcome="ok"}`, values: "0+40x30" },
    ],
    at: "20m",
  },
  CvWalletKmsSlow: {
    series: histogram("cvw_crypto_kms_call_duration_seconds_bucket", `${c},provider="aws",operation="decrypt"`, {
      "0.5": 2,
      "1": 2,
      "2.5": 30,
      "+Inf": 30,
    }),
    at: "30m",
  },
  CvWalletCryptoErrors: {
    series: [
      { series: `cvw_crypto_rpc_calls_total{${c},method="Decrypt",code="ok"}`, values: "0+100x30" },
      { series: `cvw_crypto_rpc_calls_total{${c},method="Decrypt",code="unavailable"}`, values: "0+3x30" },
    ],
    at: "20m",
  },
  CvWalletCryptoCallersRefused: {
    series: [{ series: `cvw_crypto_rpc_calls_total{${c},method="Encrypt",code="unauthenticated"}`, values: "0+2x30" }],
    at: "20m",
  },
  CvWalletDekCacheThrashing: {
    series: [
      { series: `cvw_crypto_dek_cache_hits_total{${c}}`, values: "0+60x90" },
      { series: `cvw_crypto_dek_cache_misses_total{${c}}`, values: "0+60x90" },
    ],
    at: "80m",
  },
  CvWalletHttp5xx: {
    series: [
      {
        series: `wallet_http_request_duration_seconds_count{${w},method="GET",route="/api/keys/provider/:provider",status="200"}`,
        values: "0+100x30",
      },
      {
        series: `wallet_http_request_duration_seconds_count{${w},method="GET",route="/api/keys/provider/:provider",status="503"}`,
        values: "0+5x30",
      },
    ],
    at: "20m",
  },
  CvWalletRpcErrors: {
    series: [
      { series: `wallet_rpc_duration_seconds_count{${w},method="GetProviderKey",code="ok"}`, values: "0+100x30" },
      {
        series: `wallet_rpc_duration_seconds_count{${w},method="GetProviderKey",code="unavailable"}`,
        values: "0+5x30",
      },
    ],
    at: "20m",
  },
  CvWalletCryptoCallsFailing: {
    series: [
      {
        series: `wallet_crypto_call_duration_seconds_count{${w},method="DecryptBatch",code="deadline_exceeded"}`,
        values: "0+2x30",
      },
    ],
    at: "20m",
  },
  CvWalletRetrievalSlow: {
    series: histogram("wallet_rpc_duration_seconds_bucket", `${w},method="GetProviderKey",code="ok"`, {
      "0.25": 1,
      "0.5": 1,
      "1": 50,
      "+Inf": 50,
    }),
    at: "30m",
  },
  CvWalletRetrievalVolumeUnusual: {
    // A week at 1/s, then 10/s: over three times last week's rate at this hour.
    series: [
      {
        series: `wallet_key_retrievals_total{${w},provider="openai",kind="provider_key"}`,
        values: "0+300x2016 607800+3000x11",
      },
    ],
    interval: "5m",
    evaluation: "15m",
    at: "169h",
  },
  CvWalletMemoryHigh: {
    series: [{ series: `process_resident_memory_bytes{${c}}`, values: "500000000x30" }],
    at: "20m",
    labels: { service: "crypto", job: "cv-wallet-crypto", instance: "10.0.0.7:9464" },
  },
  CvWalletEventLoopLag: {
    series: [{ series: `nodejs_eventloop_lag_p99_seconds{${w}}`, values: "1.5x30" }],
    at: "20m",
    labels: { service: "wallet", job: "cv-wallet-wallet", instance: "10.0.0.9:8080" },
  },
  CvWalletReplicasLow: {
    series: [
      {
        series: `kube_deployment_status_replicas_available{namespace="cv-wallet",deployment="cv-wallet-crypto"}`,
        values: "1x30",
      },
    ],
    at: "20m",
    labels: { namespace: "cv-wallet", deployment: "cv-wallet-crypto" },
  },
};

const promtool = which("promtool");
const SUITE = "deploy alert rules (promtool)";
if (!promtool) {
  reportSkip(SUITE, "promtool is not on PATH (Debian: apt-get install prometheus); the rules' shape is still checked");
}
const dir = mkdtempSync(join(tmpdir(), "cvw-alerts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runPromtool(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(promtool!, args, { encoding: "utf8", cwd: dir });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Writes a promtool unit-test file over the rules file and runs it. */
function promtoolTest(
  name: string,
  tests: unknown[],
  evaluationInterval = "1m",
): { status: number | null; output: string } {
  const file = join(dir, `${name}.test.yaml`);
  writeFileSync(
    file,
    stringify({ rule_files: [rulesFile], evaluation_interval: evaluationInterval, tests }, { lineWidth: 0 }),
  );
  return runPromtool(["test", "rules", file]);
}

describe("the rules file", () => {
  test("every alert has a severity, a summary, a description and a runbook link, and waits before firing", () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) {
      expect(["critical", "warning", "info"], r.alert).toContain(r.labels.severity);
      expect(Object.keys(r.annotations).sort(), r.alert).toEqual(["description", "runbook_url", "summary"]);
      const [file, anchor] = r.annotations.runbook_url!.split("#");
      expect(file).toBe("deploy/RUNBOOK.md");
      // The anchor is a heading of the runbook (GitHub's slug of it).
      const slugs = readFileSync(at("RUNBOOK.md"), "utf8")
        .split("\n")
        .filter((l) => l.startsWith("#"))
        .map((l) =>
          l
            .replace(/^#+\s*/, "")
            .toLowerCase()
            .replace(/[^\w\- ]/g, "")
            .replace(/ /g, "-"),
        );
      expect(slugs, r.alert).toContain(anchor);
      expect(r.for, r.alert).toMatch(/^\d+m$/);
    }
  });

  test("the metric names the rules use are the list above, no more, no less", () => {
    const used = new Set(
      rules.flatMap((r) => r.expr.match(/\b(?:cvw|wallet|process|nodejs|kube)_[a-z0-9_]+\b/g) ?? []),
    );
    const listed = new Set([...RULE_METRICS.crypto, ...RULE_METRICS.wallet, ...RULE_METRICS.external]);
    expect([...used].sort()).toEqual([...listed].sort());
  });

  test("the PrometheusRule in the kustomize base is generated from it, unchanged", () => {
    const committed = readFileSync(prometheusRuleFile, "utf8");
    expect(committed, "run `npm run alerts:sync -w deploy`").toBe(prometheusRuleYaml());
    const rule = parse(committed) as { kind: string; spec: unknown };
    expect(rule.kind).toBe("PrometheusRule");
    expect(rule.spec).toEqual(parse(readFileSync(rulesFile, "utf8")));
    const kustomization = parse(readFileSync(at("k8s", "base", "kustomization.yaml"), "utf8")) as {
      resources: string[];
    };
    expect(kustomization.resources).toContain("prometheus-rule.yaml");
  });

  test.runIf(Boolean(promtool))("promtool check rules accepts it, and refuses a broken copy", () => {
    const ok = runPromtool(["check", "rules", rulesFile]);
    expect(ok.status, ok.output).toBe(0);
    expect(ok.output).toContain(`SUCCESS: ${rules.length} rules found`);
    const broken = join(dir, "broken.yaml");
    writeFileSync(broken, readFileSync(rulesFile, "utf8").replace("> 0.01", "> > 0.01"));
    expect(runPromtool(["check", "rules", broken]).status).not.toBe(0);
  });
});

describe.runIf(Boolean(promtool))("promtool test rules: each alert fires on trouble", () => {
  test("every alert has a trouble case", () => {
    expect(Object.keys(TROUBLE).sort()).toEqual(rules.map((r) => r.alert).sort());
  });

  test("each alert fires on its trouble series, with its labels and annotations", () => {
    // One promtool run per evaluation interval (each reports every failing case by name).
    const byEvaluation = new Map<string, unknown[]>();
    for (const r of rules) {
      const t = TROUBLE[r.alert]!;
      const evaluation = t.evaluation ?? "1m";
      byEvaluation.set(evaluation, [
        ...(byEvaluation.get(evaluation) ?? []),
        {
          name: `${r.alert} fires`,
          interval: t.interval ?? "1m",
          input_series: t.series,
          alert_rule_test: [
            {
              eval_time: t.at,
              alertname: r.alert,
              exp_alerts: [{ exp_labels: { ...r.labels, ...t.labels }, exp_annotations: r.annotations }],
            },
          ],
        },
      ]);
    }
    const failures: string[] = [];
    for (const [evaluation, tests] of byEvaluation) {
      const result = promtoolTest(`trouble-${evaluation}`, tests, evaluation);
      if (result.status !== 0) failures.push(result.output);
    }
    expect(failures).toEqual([]);
  }, 60_000);

  test("the check can fail: an alert expected on a healthy series is reported missing", () => {
    const result = promtoolTest("control", [
      {
        interval: "1m",
        input_series: [{ series: `cvw_crypto_kms_calls_total{${c},outcome="ok"}`, values: "0+10x30" }],
        alert_rule_test: [{ eval_time: "20m", alertname: "CvWalletKmsFailing", exp_alerts: [{ exp_labels: {} }] }],
      },
    ]);
    expect(result.status).not.toBe(0);
  });
});

// --- a healthy scrape of the running services -------------------------------------------

interface Sample {
  name: string;
  labels: string;
  value: number;
  counter: boolean;
}

/** Prometheus text exposition → samples, marking the ones that only go up. */
function parseExposition(text: string): Sample[] {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const [, name, labels = "", raw] = m as unknown as [string, string, string | undefined, string];
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    const family = [name, name.replace(/_(bucket|sum|count|total|created)$/, "")].find((n) => types.has(n));
    const kind = family ? types.get(family) : "untyped";
    const counter =
      kind === "counter" || ((kind === "histogram" || kind === "summary") && /_(bucket|sum|count)$/.test(name));
    samples.push({ name, labels, value, counter });
  }
  return samples;
}

/** A sample as an hour of promtool input: counters grow by the scraped amount every minute. */
function asInputSeries(s: Sample, target: { job: string; instance: string }, minutes: number): Series {
  const inner = s.labels.slice(1, -1);
  const extra = `job="${target.job}",instance="${target.instance}"`;
  const labels = /(^|,)\s*job=/.test(inner) ? inner : inner ? `${extra},${inner}` : extra;
  const v = Number(s.value.toFixed(9));
  return { series: `${s.name}{${labels}}`, values: s.counter ? `0+${v}x${minutes}` : `${v}x${minutes}` };
}

describe("a healthy scrape of the running services", () => {
  const workDir = join(dir, "services");
  const token = serviceToken();
  const services: Service[] = [];
  let scrapes: { crypto: string; wallet: string } = { crypto: "", wallet: "" };

  beforeAll(async () => {
    const metricsAddress = `127.0.0.1:${await freePort()}`;
    const crypto = await startCrypto("crypto", {
      CRYPTO_DATA_DIR: join(workDir, "crypto"),
      CRYPTO_SERVICE_TOKEN: token,
      CRYPTO_METRICS_ADDR: metricsAddress,
    });
    services.push(crypto);
    const walletMetrics = `127.0.0.1:${await freePort()}`;
    const wallet = await startWallet("wallet", {
      WALLET_DATA_DIR: join(workDir, "wallet"),
      CRYPTO_GRPC_ADDR: crypto.address,
      CRYPTO_SERVICE_TOKEN: token,
      WALLET_METRICS_ADDR: walletMetrics,
    });
    services.push(wallet);

    // prom-client resets the event-loop delay histogram at each scrape: a first scrape, as
    // Prometheus would have taken one, keeps the start-up's compilation out of the lag below.
    await fetch(`http://${metricsAddress}/metrics`).then((r) => r.text());
    await fetch(`http://${walletMetrics}/metrics`).then((r) => r.text());

    // Traffic as a day brings it: sign-ups, keys stored, cv-git retrievals over REST and
    // Connect, and the 4xx that ordinary clients cause (a wrong id, a bad token).
    const http = new WalletHttp(`http://${wallet.address}`);
    const users = [];
    for (const i of [0, 1]) users.push(await userWithToken(http, `healthy${i}@example.com`));
    for (const u of users) {
      for (const provider of ["openai", "anthropic"]) {
        const r = await http.call("POST", "/api/keys", {
          bearer: u.token,
          body: { provider, name: "main", key: `sk-${provider}-${"x".repeat(32)}`, isDefault: true },
        });
        expect(r.status).toBe(201);
      }
      for (let i = 0; i < 5; i++)
        expect((await http.call("GET", "/api/keys/provider/openai", { bearer: u.token })).status).toBe(200);
      const connect = await fetch(`http://${wallet.address}/cvwallet.wallet.v1.WalletService/GetProviderKey`, {
        method: "POST",
        headers: { authorization: `Bearer ${u.token}`, "content-type": "application/json" },
        body: JSON.stringify({ provider: "anthropic" }),
      });
      expect(connect.status).toBe(200);
      expect((await http.call("GET", "/api/keys/provider/mistral", { bearer: u.token })).status).toBe(404);
    }
    expect((await http.call("GET", "/api/keys", { bearer: "cvw_not-a-token" })).status).toBe(401);

    scrapes = {
      crypto: await (await fetch(`http://${metricsAddress}/metrics`)).text(),
      wallet: await (await fetch(`http://${walletMetrics}/metrics`)).text(),
    };
  }, 90_000);

  afterAll(async () => {
    for (const s of services.reverse()) await s.stop();
  });

  test("every metric the rules use is exposed, with its service label", () => {
    const missing: string[] = [];
    for (const service of ["crypto", "wallet"] as const) {
      const samples = parseExposition(scrapes[service]);
      for (const name of RULE_METRICS[service]) {
        const found = samples.filter((s) => s.name === name);
        if (found.length === 0) missing.push(`${service}: ${name}`);
        else if (!found.every((s) => s.labels.includes(`service="${service}"`)))
          missing.push(`${service}: ${name} without service="${service}"`);
      }
    }
    expect(missing).toEqual([]);
  });

  test("the label values the rules match on: lower-case codes, numeric HTTP statuses", () => {
    const values = (service: "crypto" | "wallet", label: string) =>
      parseExposition(scrapes[service]).flatMap((s) => {
        const m = new RegExp(`(?:^\\{|,)${label}="([^"]*)"`).exec(s.labels);
        return m ? [`${s.name} ${m[1]}`] : [];
      });
    const codes = [...values("crypto", "code"), ...values("wallet", "code")];
    expect(codes.length).toBeGreaterThan(0);
    expect(codes.filter((c) => !/ [a-z_]+$/.test(c))).toEqual([]);
    // CvWalletHttp5xx matches status=~"5..".
    const statuses = values("wallet", "status").filter((s) => s.startsWith("wallet_http_request_duration_seconds"));
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => !/ \d{3}$/.test(s))).toEqual([]);
  });

  test.runIf(Boolean(promtool))(
    "no alert fires on an hour of it",
    () => {
      const minutes = 70;
      const series = [
        ...parseExposition(scrapes.crypto).map((s) =>
          asInputSeries(s, { job: "cv-wallet-crypto", instance: "10.0.0.7:9464" }, minutes),
        ),
        ...parseExposition(scrapes.wallet).map((s) =>
          asInputSeries(s, { job: "cv-wallet-wallet", instance: "10.0.0.9:8080" }, minutes),
        ),
        // kube-state-metrics on a healthy cluster.
        ...["cv-wallet-crypto", "cv-wallet-wallet"].map((d) => ({
          series: `kube_deployment_status_replicas_available{namespace="cv-wallet",deployment="${d}"}`,
          values: `3x${minutes}`,
        })),
      ];
      expect(series.length).toBeGreaterThan(20);
      const result = promtoolTest("healthy", [
        {
          name: "a healthy scrape, replayed every minute",
          interval: "1m",
          input_series: series,
          alert_rule_test: rules.map((r) => ({ eval_time: `${minutes - 5}m`, alertname: r.alert, exp_alerts: [] })),
        },
      ]);
      expect(result.status, result.output).toBe(0);
      // The replay holds real traffic: retrievals grew, so the silence is not for want of data.
      expect(
        series.some((s) => s.series.startsWith("wallet_key_retrievals_total") && !s.values.startsWith("0+0x")),
      ).toBe(true);
    },
    60_000,
  );
});
