// k8s_check.mjs - deploy/k8s's manifests, offline: each object validated
// against the Kubernetes OpenAPI schema (the kubernetes-models package:
// its classes' validate()), then checked against the edgekv binary.
//
//   node k8s_check.mjs HELP_DIR PROBES MANIFEST...
//
// HELP_DIR holds origin.help and edge.help (`edgekv ROLE --help`); PROBES is
// a comma-separated list of the paths a real node answers without a token
// and not with 404 (the test asks one). Prints "ok - ..." / "FAIL - ..."
// lines and "N passed, N failed"; exits 1 on a failure.
import fs from "node:fs";
import path from "node:path";
import yaml from "js-yaml";

const [helpDir, probeList, ...files] = process.argv.slice(2);
const probes = new Set(probeList.split(","));
let pass = 0, fail = 0;
const ok = (m) => { pass++; console.log(`ok   - ${m}`); };
const bad = (m) => { fail++; console.log(`FAIL - ${m}`); };
const expect = (cond, m) => (cond ? ok(m) : bad(m));

// The flags of `edgekv ROLE --help`: lines "  --flag ARG".
const flags = {};
for (const role of ["origin", "edge"]) {
  const text = fs.readFileSync(path.join(helpDir, `${role}.help`), "utf8");
  flags[role] = new Set([...text.matchAll(/^ {2}(--[a-z0-9-]+)/gm)].map((m) => m[1]));
}

// kind -> the kubernetes-models module and class.
const models = {
  "v1/Service": ["kubernetes-models/v1", "Service"],
  "v1/Secret": ["kubernetes-models/v1", "Secret"],
  "v1/ConfigMap": ["kubernetes-models/v1", "ConfigMap"],
  "apps/v1/StatefulSet": ["kubernetes-models/apps/v1", "StatefulSet"],
  "apps/v1/DaemonSet": ["kubernetes-models/apps/v1", "DaemonSet"],
  "policy/v1/PodDisruptionBudget": ["kubernetes-models/policy/v1", "PodDisruptionBudget"],
};

const docs = [];
for (const f of files)
  for (const d of yaml.loadAll(fs.readFileSync(f, "utf8")))
    if (d) docs.push({ file: path.basename(f), d });

for (const { file, d } of docs) {
  const what = `${file}: ${d.kind} ${d.metadata?.name}`;
  const m = models[`${d.apiVersion}/${d.kind}`];
  if (!m) { bad(`${what}: no schema known for ${d.apiVersion} ${d.kind}`); continue; }
  const Cls = (await import(m[0]))[m[1]];
  try { new Cls(d).validate(); ok(`${what}: valid against the ${d.apiVersion} schema`); }
  catch (e) { bad(`${what}: ${e.message}`); }
}

const matches = (sel, labels) => Object.entries(sel || {}).every(([k, v]) => labels?.[k] === v);
const services = docs.filter((x) => x.d.kind === "Service").map((x) => x.d);
const sets = docs.filter((x) => ["StatefulSet", "DaemonSet"].includes(x.d.kind)).map((x) => x.d);
const pdbs = docs.filter((x) => x.d.kind === "PodDisruptionBudget").map((x) => x.d);
expect(sets.length >= 2, `${sets.length} workloads (origin and edges)`);
expect(pdbs.length >= 1, `${pdbs.length} PodDisruptionBudget`);

for (const s of sets) {
  const name = s.metadata.name, pod = s.spec.template, spec = pod.spec;
  expect(matches(s.spec.selector.matchLabels, pod.metadata.labels), `${name}: the selector selects its pods`);
  if (s.kind === "StatefulSet") {
    const svc = services.find((v) => v.metadata.name === s.spec.serviceName);
    expect(svc && svc.spec.clusterIP === "None" && matches(svc.spec.selector, pod.metadata.labels),
      `${name}: serviceName ${s.spec.serviceName} is a headless Service over its pods`);
  }
  const volumes = new Set([...(spec.volumes || []).map((v) => v.name),
    ...(s.spec.volumeClaimTemplates || []).map((v) => v.metadata.name)]);
  for (const c of spec.containers) {
    const where = `${name}/${c.name}`;
    const role = c.args?.[0];
    expect(role === "origin" || role === "edge", `${where}: runs edgekv ${role}`);
    if (!flags[role]) continue;
    const env = new Set((c.env || []).map((e) => e.name));
    const opts = {};
    for (const a of c.args.slice(1)) {
      const m = /^(--[a-z0-9-]+)(?:=(.*))?$/.exec(a);
      if (!m) { bad(`${where}: argument '${a}' is not --flag=value`); continue; }
      expect(flags[role].has(m[1]), `${where}: ${m[1]} is a flag of edgekv ${role}`);
      opts[m[1]] = m[2];
      for (const v of (m[2] || "").matchAll(/\$\(([A-Z_]+)\)/g))
        expect(env.has(v[1]), `${where}: $(${v[1]}) in ${m[1]} is set in env`);
    }
    // Ports: every listen flag's port is a declared container port, and
    // every declared port is one a flag listens on.
    const ports = new Map((c.ports || []).map((p) => [p.name, p.containerPort]));
    const listened = ["--listen", "--repl-listen", "--https-listen"].filter((f) => opts[f])
      .map((f) => [f, Number(opts[f].split(":").pop())]);
    for (const [f, p] of listened)
      expect([...ports.values()].includes(p), `${where}: ${f} port ${p} is a container port`);
    for (const [n, p] of ports)
      expect(listened.some(([, q]) => q === p), `${where}: container port ${n} (${p}) is listened on`);
    expect(!!opts["--listen"] && !opts["--listen"].startsWith("127."),
      `${where}: the API listens beyond loopback (${opts["--listen"]})`);
    // Probes: paths the node answers, on a port it listens on.
    for (const k of ["readinessProbe", "livenessProbe"]) {
      const g = c[k]?.httpGet;
      if (!g) { bad(`${where}: no ${k} httpGet`); continue; }
      expect(probes.has(g.path), `${where}: ${k} ${g.path} is answered by the node`);
      expect(ports.has(g.port) || [...ports.values()].includes(g.port), `${where}: ${k} port ${g.port} is declared`);
    }
    expect(c.readinessProbe?.httpGet?.path === "/readyz", `${where}: readiness is /readyz (edge: link live, not stale)`);
    // Volumes: mounts exist; --data and --certs sit on them, the data on a
    // claim, the certificates on a Secret.
    const mounts = c.volumeMounts || [];
    for (const v of mounts) expect(volumes.has(v.name), `${where}: mount ${v.name} is a volume`);
    const on = (p) => mounts.find((v) => p === v.mountPath || p.startsWith(v.mountPath + "/"));
    const data = on(opts["--data"] || "");
    expect(data && (s.spec.volumeClaimTemplates || []).some((t) => t.metadata.name === data.name),
      `${where}: --data ${opts["--data"]} is on a volume claim`);
    const certs = on(opts["--certs"] || "");
    const certVol = (spec.volumes || []).find((v) => v.name === certs?.name);
    expect(certVol?.secret?.secretName, `${where}: --certs ${opts["--certs"]} is a Secret (${certVol?.secret?.secretName})`);
  }
}

for (const svc of services) {
  const pods = sets.filter((s) => matches(svc.spec.selector, s.spec.template.metadata.labels));
  expect(pods.length > 0, `Service ${svc.metadata.name} selects pods`);
  for (const p of svc.spec.ports) {
    const named = pods.every((s) => s.spec.template.spec.containers.some((c) =>
      (c.ports || []).some((q) => q.name === p.targetPort || q.containerPort === p.targetPort)));
    expect(named, `Service ${svc.metadata.name}: targetPort ${p.targetPort} is a container port`);
  }
}
for (const p of pdbs)
  expect(sets.some((s) => matches(p.spec.selector.matchLabels, s.spec.template.metadata.labels)),
    `PodDisruptionBudget ${p.metadata.name} selects pods`);

console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
