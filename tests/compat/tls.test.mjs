// tls.test.mjs - over HTTPS only (run.sh --https): the clients check the
// node's certificate; nothing in these suites turns a check off. Each
// client reaches the target through the private CA it was given (Node.js:
// NODE_EXTRA_CA_CERTS; workerd: trustedCertificates; edgekv kv: --cacert),
// and refuses two edgekv nodes whose certificates that same CA signed:
// one that expired an hour ago (`edgekv certs api --valid-from -7200
// --valid-until -3600`) and one for another name (`--host wrong.example`,
// so 127.0.0.1 and localhost are not in it). Without the CA, the target's
// own certificate is refused too: the trust comes from the CA, not from a
// client that accepts anything. Both bad nodes answer on their plain port,
// so a refusal is the certificate's doing, not a node that is down.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import Cloudflare from "cloudflare";
import {
  URL_,
  API,
  ACCOUNT,
  TOKEN,
  HTTPS,
  CA_FILE,
  TLS_HOST,
  compatibilityDate,
  createNamespace,
  plainText,
  rest,
  runProcess,
  scratchDir,
  spawnTracked,
  startWorkerd,
} from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const WRANGLER = join(here, "node_modules", ".bin", "wrangler");
const BIN = process.env.EDGEKV_BIN; // the edgekv binary under test
const CA_DIR = process.env.EDGEKV_CA_DIR; // ca.crt and ca.key of the private CA
if (!HTTPS || !BIN || !CA_DIR)
  throw new Error("tls.test.mjs runs over HTTPS only: tests/compat/run.sh --https (EDGEKV_BIN, EDGEKV_CA_DIR)");

const dir = scratchDir("tls");
const bad = {}; // name -> {child, url (https), plain (http)}
let workerd; // {child, url}
let workerdErr = ""; // workerd's stderr: why it refused each certificate
let ns; // a namespace at the target holding k = "v" (the Worker's reads)

// The bad certificates are issued from a copy of the CA (its key included),
// so the run's CA directory is left as it was.
function issueBadCertificates() {
  const ca = join(dir, "ca");
  mkdirSync(ca, { mode: 0o700 });
  for (const f of ["ca.crt", "ca.key"]) copyFileSync(join(CA_DIR, f), join(ca, f));
  return Promise.all([
    ["expired", "--valid-from", "-7200", "--valid-until", "-3600"],
    ["wrongname", "--host", "wrong.example"],
  ].map(async ([name, ...args]) => {
    const r = await runProcess(BIN, ["certs", "api", "--dir", ca, "--name", name, ...args]);
    assert.equal(r.code, 0, `certs api ${name}: ${r.out}`);
    return name;
  }));
}

// Starts an edgekv node serving the API over HTTPS with DIR/ca/NAME.crt;
// answers {child, url, plain} once its banner named both ports.
function startNode(name) {
  return new Promise((resolve, reject) => {
    const cert = join(dir, "ca", name);
    const child = spawnTracked(BIN, ["origin", "--listen", "127.0.0.1:0", "--https-listen", "127.0.0.1:0",
      "--https-cert", `${cert}.crt`, "--https-key", `${cert}.key`, "--data", join(dir, `data-${name}`),
      "--account", ACCOUNT, "--token", TOKEN, "--sync", "off", "--log-level", "warn"],
    { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`edgekv (${name}) did not start within 30 s: ${out}`));
    }, 30000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`edgekv (${name}) exited early (${code}): ${out}`));
    });
    child.stdout.on("data", (d) => {
      out += d;
      const https = out.match(/serving (https:\/\/127\.0\.0\.1:\d+)/);
      const http = out.match(/serving (http:\/\/127\.0\.0\.1:\d+)/);
      if (https && http) {
        clearTimeout(timer);
        resolve({ child, url: https[1], plain: http[1] });
      }
    });
  });
}

function stopAll() {
  for (const n of Object.values(bad)) if (n.child.exitCode === null) n.child.kill("SIGTERM");
  if (workerd && workerd.child.exitCode === null) workerd.child.kill("SIGTERM");
}
process.on("exit", stopAll); // never leave a node or workerd behind

before(async () => {
  ns = await createNamespace("tls");
  assert.equal((await rest("PUT", `/${ns}/values/k`, "v")).status, 200);
  for (const name of await issueBadCertificates()) bad[name] = await startNode(name);
  // Each bad node serves its plain port: the refusals below are about TLS.
  for (const [name, n] of Object.entries(bad)) {
    const r = await fetch(`${n.plain}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(r.status, 200, `${name} over plain http`);
  }
});

after(async () => {
  const exits = Object.values(bad).map((n) =>
    n.child.exitCode === null ? new Promise((r) => n.child.on("exit", r)) : null);
  stopAll();
  await Promise.all(exits);
});

// ---- the cloudflare SDK (in this process: NODE_EXTRA_CA_CERTS = the CA) -----------

const sdk = (base) => new Cloudflare({ baseURL: `${base}/client/v4`, apiToken: TOKEN, maxRetries: 0, timeout: 30000 });

// The TLS error under the SDK's APIConnectionError (fetch's TypeError, then
// the socket's error): its code, e.g. CERT_HAS_EXPIRED.
function tlsCode(e) {
  assert.ok(e instanceof Cloudflare.APIConnectionError, `not an APIConnectionError: ${e}`);
  let c = e;
  while (c.cause && !c.code) c = c.cause;
  return c.code;
}

test("the SDK reaches the target over HTTPS, trusting the private CA", async () => {
  assert.match(API, /^https:\/\//);
  const page = await sdk(URL_).kv.namespaces.list({ account_id: ACCOUNT });
  assert.ok(Array.isArray(page.result));
});

test("the SDK refuses an expired certificate (CERT_HAS_EXPIRED)", async () => {
  await assert.rejects(sdk(bad.expired.url).kv.namespaces.list({ account_id: ACCOUNT }), (e) => {
    assert.equal(tlsCode(e), "CERT_HAS_EXPIRED");
    return true;
  });
});

test("the SDK refuses a certificate for another name (ERR_TLS_CERT_ALTNAME_INVALID)", async () => {
  await assert.rejects(sdk(bad.wrongname.url).kv.namespaces.list({ account_id: ACCOUNT }), (e) => {
    assert.equal(tlsCode(e), "ERR_TLS_CERT_ALTNAME_INVALID");
    return true;
  });
});

test("without NODE_EXTRA_CA_CERTS the SDK refuses the target's certificate", async () => {
  // A child process: this one loaded the CA at start-up.
  const script = `
    import Cloudflare from "cloudflare";
    const c = new Cloudflare({ baseURL: process.argv[1], apiToken: process.argv[2], maxRetries: 0, timeout: 30000 });
    try { await c.kv.namespaces.list({ account_id: process.argv[3] }); console.log("reached"); }
    catch (e) { let x = e; while (x.cause && !x.code) x = x.cause; console.log(x.code ?? String(e)); }`;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = await runProcess(process.execPath, ["--input-type=module", "-e", script, API, TOKEN, ACCOUNT], { env, cwd: here });
  assert.equal(r.code, 0, r.out);
  assert.equal(r.stdout.toString().trim(), "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
});

// ---- wrangler (NODE_EXTRA_CA_CERTS in its environment) ------------------------------

function wranglerEnv(base, withCa = true) {
  const home = join(dir, "home");
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_CACHE_HOME: join(home, ".cache"),
    XDG_DATA_HOME: join(home, ".local", "share"),
    CLOUDFLARE_API_BASE_URL: `${base}/client/v4`,
    CLOUDFLARE_API_TOKEN: TOKEN,
    CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_HIDE_BANNER: "true",
    DO_NOT_TRACK: "1",
    NO_COLOR: "1",
  };
  if (withCa) env.NODE_EXTRA_CA_CERTS = CA_FILE;
  return env;
}
async function wranglerList(base, withCa) {
  const r = await runProcess(WRANGLER, ["kv", "namespace", "list"], { env: wranglerEnv(base, withCa), cwd: dir, timeoutMs: 90000 });
  return { ...r, out: plainText(r.out) };
}
// wrangler names no cause (the SDK tests above pin it): it gives up on the
// request with its generic connection failure and exits 1.
function assertRefused(r, what) {
  assert.ok(!r.timedOut && r.code === 1, `wrangler ${what}: code ${r.code}:\n${r.out}`);
  assert.match(r.out, /A request to the Cloudflare API failed/, what);
  assert.doesNotMatch(r.out, /"id":/, what);
}

test("wrangler lists namespaces over HTTPS with the CA, refuses the expired and the wrong-name node", async () => {
  const ok = await wranglerList(URL_);
  assert.equal(ok.code, 0, ok.out);
  const text = ok.stdout.toString();
  assert.ok(Array.isArray(JSON.parse(text.slice(text.indexOf("[")))), ok.out);
  assertRefused(await wranglerList(bad.expired.url), "expired certificate");
  assertRefused(await wranglerList(bad.wrongname.url), "certificate for wrong.example");
});

test("wrangler without NODE_EXTRA_CA_CERTS refuses the target's certificate", async () => {
  assertRefused(await wranglerList(URL_, false), "no CA");
});

// ---- workerd (the CA in trustedCertificates) ----------------------------------------

// One binding per server: the target (trusting the CA, and trusting nothing),
// the expired node and the wrong-name node (trusting the CA). Each is checked
// against TLS_HOST (localhost), which the target's and the expired
// certificate name and the wrong-name one does not.
function workerdConfig() {
  const ext = (name, url, trusted) => `(name = "${name}", external = (address = "${new URL(url).host}",
      https = (options = (injectRequestHeaders = [(name = "X-EdgeKV-Namespace", value = "${ns}"),
                                                  (name = "Authorization", value = "Bearer ${TOKEN}")]),
               tlsOptions = (trustedCertificates = [${trusted ? 'embed "ca.pem"' : ""}], trustBrowserCas = false),
               certificateHost = "${TLS_HOST}")))`;
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = (
      modules = [(name = "tls.mjs", esModule = embed "tls.mjs")],
      compatibilityDate = "${compatibilityDate}",
      bindings = [(name = "GOOD", kvNamespace = "good"), (name = "NOCA", kvNamespace = "noca"),
                  (name = "EXPIRED", kvNamespace = "expired"), (name = "WRONGNAME", kvNamespace = "wrongname")])),
    ${ext("good", URL_, true)},
    ${ext("noca", URL_, false)},
    ${ext("expired", bad.expired.url, true)},
    ${ext("wrongname", bad.wrongname.url, true)},
  ],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
);
`;
}
// GET /?b=NAME: env[NAME].get("k") -> {ok: value} or {err: "Name: message"}.
const WORKER = `export default {
  async fetch(req, env) {
    const b = new URL(req.url).searchParams.get("b");
    try { return Response.json({ ok: await env[b].get("k") }); }
    catch (e) { return Response.json({ err: \`\${e.name}: \${e.message}\` }); }
  },
};
`;

async function viaWorkerd(binding) {
  if (!workerd) {
    const wdir = join(dir, "workerd");
    mkdirSync(wdir);
    copyFileSync(CA_FILE, join(wdir, "ca.pem"));
    writeFileSync(join(wdir, "tls.mjs"), WORKER);
    writeFileSync(join(wdir, "config.capnp"), workerdConfig());
    workerd = await startWorkerd(wdir, { stderr: "pipe" });
    workerd.child.stderr.on("data", (d) => (workerdErr += d));
  }
  const r = await fetch(`${workerd.url}/?b=${binding}`, { signal: AbortSignal.timeout(60000) });
  assert.equal(r.status, 200);
  return r.json();
}

test("workerd reaches the target over HTTPS with the CA in trustedCertificates", async () => {
  assert.deepEqual(await viaWorkerd("GOOD"), { ok: "v" });
});

test("workerd refuses the target without the CA, the expired and the wrong-name certificate", async () => {
  const want = {
    NOCA: /certificate is not trusted; reason = unable to get local issuer certificate/,
    EXPIRED: /certificate is not trusted; reason = certificate has expired/,
    WRONGNAME: /certificate is not trusted; reason = Hostname mismatch/,
  };
  for (const [b, why] of Object.entries(want)) {
    const before = workerdErr.length;
    const r = await viaWorkerd(b);
    assert.ok("err" in r, `${b}: ${JSON.stringify(r)}`);
    assert.match(r.err, /internal error/i, b);
    // workerd tells the Worker "internal error" and logs the reason.
    const deadline = Date.now() + 10000;
    while (!why.test(workerdErr.slice(before)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    assert.match(workerdErr.slice(before), why, `${b}: workerd's log`);
  }
});

// ---- edgekv kv --cacert --------------------------------------------------------------

async function edgekvKv(base, cacert) {
  const args = ["kv", "namespace", "list", "--json", "--url", base, "--token", TOKEN, "--account", ACCOUNT];
  if (cacert) args.push("--cacert", cacert);
  const env = { PATH: process.env.PATH, HOME: join(dir, "home") }; // no EDGEKV_* / CLOUDFLARE_* from outside
  return runProcess(BIN, args, { env, timeoutMs: 60000 });
}

test("edgekv kv --cacert reaches the target, refuses the expired and the wrong-name node and no CA", async () => {
  const ok = await edgekvKv(URL_, CA_FILE);
  assert.equal(ok.code, 0, ok.out);
  assert.ok(Array.isArray(JSON.parse(ok.stdout.toString())), ok.out);
  // libcurl's reasons, which edgekv kv passes on.
  for (const [what, base, cacert, why] of [
    ["expired", bad.expired.url, CA_FILE, /certificate has expired/],
    ["wrong name", bad.wrongname.url, CA_FILE, /no alternative certificate subject name matches target host name '127\.0\.0\.1'/],
    ["no --cacert", URL_, null, /unable to get local issuer certificate/],
  ]) {
    const r = await edgekvKv(base, cacert);
    assert.equal(r.code, 5, `${what}: exit ${r.code}: ${r.out}`); // 5: cannot connect (certificate not verified)
    assert.match(r.stderr, why, what);
  }
});
