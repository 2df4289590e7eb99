// Writes deploy/k8s/base/prometheus-rule.yaml from deploy/prometheus/alerts.yaml, so the
// rules have one source: the PrometheusRule's spec is the rules file, unchanged.
//   npm run alerts:sync -w deploy        (the deploy tests fail while the two differ)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";

const deployDir = join(import.meta.dirname, "..");
export const rulesFile = join(deployDir, "prometheus", "alerts.yaml");
export const prometheusRuleFile = join(deployDir, "k8s", "base", "prometheus-rule.yaml");

/** The PrometheusRule manifest (text) for the rules file's current content. */
export function prometheusRuleYaml(rulesText: string = readFileSync(rulesFile, "utf8")): string {
  const rule = {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: { name: "cv-wallet", labels: { "app.kubernetes.io/name": "cv-wallet" } },
    spec: parse(rulesText) as unknown,
  };
  return [
    "# GENERATED from deploy/prometheus/alerts.yaml by `npm run alerts:sync -w deploy`: edit that file.",
    "# Needs the Prometheus Operator's CRDs (kube-prometheus-stack); add the label your",
    "# Prometheus' ruleSelector expects in your overlay.",
    stringify(rule, { lineWidth: 0 }),
  ].join("\n");
}

if (import.meta.main) {
  writeFileSync(prometheusRuleFile, prometheusRuleYaml());
  console.log(`wrote ${prometheusRuleFile}`);
}
