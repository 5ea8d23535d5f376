// wrangler.test.mjs - the real wrangler CLI (`wrangler kv ... --remote`)
// against the edgekv node, redirected with CLOUDFLARE_API_BASE_URL (KV-SPEC
// §4). Every command runs in a throwaway HOME with telemetry off. The tests
// share one namespace and run in order: create, keys, bulk, errors, delete.
//
// Writes go to the write node (edge1 in cluster mode) and reads are made
// through the read node (edge2): CLOUDFLARE_API_BASE_URL is set per
// invocation. Before a read at the other edge the test waits (raw REST,
// at most 15 s) for the write to show there, so wrangler itself runs once. Against
// one node both are that node and the extra reads are skipped. The error
// cases read through the read node and write through the write node.
// Over HTTPS (run.sh --https) the base URL is https:// and wrangler trusts
// the private CA through NODE_EXTRA_CA_CERTS, passed on in its environment.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  API,
  READ_API,
  CLUSTER,
  ACCOUNT,
  TOKEN,
  countAtReader,
  eventually,
  plainText,
  readRest,
  runProcess,
  scratchDir,
  visibleAtReader,
} from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const WRANGLER = join(here, "node_modules", ".bin", "wrangler");
const dir = scratchDir("wrangler");
const title = `compat-wrangler-${process.pid}`;
let ns; // the namespace id wrangler created

function env(token = TOKEN, base = API) {
  const home = join(dir, "home");
  return {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_CACHE_HOME: join(home, ".cache"),
    XDG_DATA_HOME: join(home, ".local", "share"),
    TMPDIR: join(dir, "tmp"),
    CLOUDFLARE_API_BASE_URL: base,
    CLOUDFLARE_API_TOKEN: token,
    CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_HIDE_BANNER: "true",
    DO_NOT_TRACK: "1",
    NO_COLOR: "1",
    // Over HTTPS: wrangler (Node.js) trusts the private CA this way, as a user would set it.
    ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {}),
  };
}

// Runs wrangler; answers {code, stdout (Buffer), out (all text, no colours)}.
// `base` is the API it talks to: API (writes, read-your-writes) by default.
async function wrangler(args, { token, base, timeoutMs = 90000 } = {}) {
  const r = await runProcess(WRANGLER, args, { env: env(token, base), cwd: dir, timeoutMs });
  return { ...r, out: plainText(r.out) };
}
async function wranglerOk(args, opts) {
  const r = await wrangler(args, opts);
  assert.equal(r.code, 0, `wrangler ${args.join(" ")} failed:\n${r.out}`);
  return r;
}
// A wrangler run that reported an error: it exited by itself with a
// non-zero status. A run killed at the deadline or by a signal (code null)
// is a failure of the test, not the error it expects.
function assertFailed(r) {
  assert.ok(Number.isInteger(r.code) && r.code !== 0,
    `expected wrangler to exit with an error, got code ${r.code}` +
      `${r.signal ? ` (signal ${r.signal})` : ""}${r.timedOut ? " (killed at the deadline)" : ""}:\n${r.out}`);
}
// wrangler prints JSON after other text; take the JSON document.
function jsonIn(text) {
  const i = text.search(/^[[{]/m);
  assert.ok(i >= 0, `no JSON in:\n${text}`);
  const end = text.lastIndexOf(text[i] === "[" ? "]" : "}");
  return JSON.parse(text.slice(i, end + 1));
}
const kv = (...a) => ["kv", ...a];
const nsArgs = () => ["--namespace-id", ns, "--remote"];
const READ = { base: READ_API }; // wrangler options for a read at the read node
const value = (key) => `/${ns}/values/${encodeURIComponent(key)}`;

before(() => {
  for (const d of ["home/.config", "home/.cache", "tmp"]) mkdirSync(join(dir, d), { recursive: true });
});

test("kv namespace create", async () => {
  const r = await wranglerOk(kv("namespace", "create", title));
  assert.match(r.out, /Success!/);
  ns = jsonIn(r.out).kv_namespaces[0].id;
  assert.match(ns, /^[0-9a-f]{32}$/);
});

test("kv namespace list shows it (through the read node)", async () => {
  await eventually("namespace at the read node", async () => assert.equal((await readRest("GET", `/${ns}`)).status, 200));
  const list = jsonIn((await wranglerOk(kv("namespace", "list"), READ)).out);
  assert.ok(Array.isArray(list));
  assert.deepEqual(list.find((n) => n.id === ns), { id: ns, title, supports_url_encoding: true });
});

test("kv namespace rename", async () => {
  const r = await wranglerOk(kv("namespace", "rename", "--namespace-id", ns, "--new-name", `${title}-renamed`));
  assert.match(r.out, /Successfully renamed namespace/);
  await eventually("rename at the read node", async () =>
    assert.equal((await readRest("GET", `/${ns}`)).body.result.title, `${title}-renamed`),
  );
});

test("kv key put / get text (at once at the writer, then at the read node)", async () => {
  const r = await wranglerOk(kv("key", "put", "greeting", "Hello, edge!", ...nsArgs()));
  assert.match(r.out, /Writing the value "Hello, edge!" to key "greeting"/);
  const g = await wranglerOk(kv("key", "get", "greeting", ...nsArgs()));
  assert.equal(g.stdout.toString("utf8"), "Hello, edge!");
  if (CLUSTER) {
    await visibleAtReader(value("greeting"), "Hello, edge!");
    const g2 = await wranglerOk(kv("key", "get", "greeting", ...nsArgs()), READ);
    assert.equal(g2.stdout.toString("utf8"), "Hello, edge!");
  }
});

test("kv key put with --ttl, --expiration and --metadata", async () => {
  const now = Math.floor(Date.now() / 1000);
  await wranglerOk(kv("key", "put", "ttl", "t", "--ttl", "3600", ...nsArgs()));
  await wranglerOk(kv("key", "put", "exp", "e", "--expiration", String(now + 7200), ...nsArgs()));
  const m = await wranglerOk(kv("key", "put", "user:42", '{"name":"Ada"}', "--metadata", '{"plan":"pro","n":1}', ...nsArgs()));
  assert.match(m.out, /with metadata/);
  await visibleAtReader(value("user:42"), '{"name":"Ada"}');
  await countAtReader(ns, "", 4); // greeting, ttl, exp, user:42
  const keys = jsonIn((await wranglerOk(kv("key", "list", ...nsArgs()), READ)).out);
  const by = Object.fromEntries(keys.map((k) => [k.name, k]));
  assert.ok(Math.abs(by.ttl.expiration - (now + 3600)) <= 10, JSON.stringify(by.ttl));
  assert.equal(by.exp.expiration, now + 7200);
  assert.deepEqual(by["user:42"], { name: "user:42", metadata: { plan: "pro", n: 1 } });
  const meta = await readRest("GET", `/${ns}/metadata/user%3A42`);
  assert.deepEqual(meta.body.result, { plan: "pro", n: 1 });
  const v = await wranglerOk(kv("key", "get", "user:42", ...nsArgs()), READ);
  assert.equal(v.stdout.toString(), '{"name":"Ada"}');
});

test("kv key put --path / get of a binary value is byte-exact", async () => {
  const bin = Buffer.alloc(70000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7919 + (i >> 8)) & 0xff;
  writeFileSync(join(dir, "in.bin"), bin);
  await wranglerOk(kv("key", "put", "blob/1", "--path", join(dir, "in.bin"), ...nsArgs()));
  await visibleAtReader(value("blob/1"), bin);
  const g = await wranglerOk(kv("key", "get", "blob/1", ...nsArgs()), READ);
  assert.ok(g.stdout.equals(bin), `got ${g.stdout.length} bytes, want ${bin.length}`);
  // and with --metadata: wrangler switches to multipart for the file.
  await wranglerOk(kv("key", "put", "blob/2", "--path", join(dir, "in.bin"), "--metadata", '{"kind":"bin"}', ...nsArgs()));
  await visibleAtReader(value("blob/2"), bin);
  const g2 = await wranglerOk(kv("key", "get", "blob/2", ...nsArgs()), READ);
  assert.ok(g2.stdout.equals(bin), "multipart file value differs");
  assert.deepEqual((await readRest("GET", `/${ns}/metadata/blob%2F2`)).body.result, { kind: "bin" });
});

test("kv key put / get of an odd key name", async () => {
  const key = "dir/ключ ?&#%=+😀";
  await wranglerOk(kv("key", "put", key, "odd", ...nsArgs()));
  await visibleAtReader(value(key), "odd");
  assert.equal((await wranglerOk(kv("key", "get", key, ...nsArgs()), READ)).stdout.toString(), "odd");
});

const N = 2500; // > 1000: several bulk batches and several list pages
const bulkKey = (i) => `bulk/${String(i).padStart(5, "0")}`;

test(`kv bulk put of ${N} items (3 batches)`, async () => {
  const items = Array.from({ length: N }, (_, i) => {
    const it = { key: bulkKey(i), value: `value-${i}` };
    if (i % 3 === 0) it.metadata = { i };
    if (i % 5 === 0) it.expiration_ttl = 3600;
    if (i === 7) Object.assign(it, { value: Buffer.from("bytes\x00\x01").toString("base64"), base64: true });
    return it;
  });
  writeFileSync(join(dir, "bulk.json"), JSON.stringify(items));
  const r = await wranglerOk(kv("bulk", "put", join(dir, "bulk.json"), ...nsArgs()), { timeoutMs: 120000 });
  assert.match(r.out, /Uploaded 100% \(2,500 out of 2,500\)/);
  assert.match(r.out, /Success!/);
});

test("kv key list --prefix follows the cursor over several pages", async () => {
  await countAtReader(ns, "bulk/", N);
  const keys = jsonIn((await wranglerOk(kv("key", "list", "--prefix", "bulk/", ...nsArgs()), READ)).out);
  assert.equal(keys.length, N);
  assert.deepEqual(keys.map((k) => k.name), Array.from({ length: N }, (_, i) => bulkKey(i)));
  assert.deepEqual(keys[3].metadata, { i: 3 });
  assert.ok(keys[5].expiration > Date.now() / 1000 + 3000);
  assert.ok(!("expiration" in keys[1]) && !("metadata" in keys[1]));
  const other = jsonIn((await wranglerOk(kv("key", "list", "--prefix", "blob/", ...nsArgs()), READ)).out);
  assert.deepEqual(other.map((k) => k.name), ["blob/1", "blob/2"]);
});

test("bulk put values read back (base64 decoded)", async () => {
  assert.equal((await wranglerOk(kv("key", "get", bulkKey(2499), ...nsArgs()), READ)).stdout.toString(), "value-2499");
  assert.ok((await wranglerOk(kv("key", "get", bulkKey(7), ...nsArgs()), READ)).stdout.equals(Buffer.from("bytes\x00\x01")));
});

test("kv bulk get of 100 keys", async () => {
  const keys = Array.from({ length: 99 }, (_, i) => bulkKey(i + 10));
  keys.push({ name: "missing-key" });
  writeFileSync(join(dir, "get.json"), JSON.stringify(keys));
  const r = await wranglerOk(kv("bulk", "get", join(dir, "get.json"), ...nsArgs()), READ);
  const values = jsonIn(r.out);
  assert.equal(Object.keys(values).length, 100);
  assert.equal(values[bulkKey(10)], "value-10");
  assert.equal(values[bulkKey(108)], "value-108");
  assert.equal(values["missing-key"], null);
});

test("kv bulk get of 1001 keys is refused as Cloudflare refuses it (max 100 per request)", async () => {
  writeFileSync(join(dir, "get-many.json"), JSON.stringify(Array.from({ length: 1001 }, (_, i) => bulkKey(i))));
  const r = await wrangler(kv("bulk", "get", join(dir, "get-many.json"), ...nsArgs()), READ);
  assertFailed(r);
  assert.match(r.out, /bulk get keys: 'You must request between 1 and 100 keys'/);
});

test(`kv bulk delete of ${N} items (strings and {name} objects)`, async () => {
  const del = Array.from({ length: N }, (_, i) => (i % 2 ? bulkKey(i) : { name: bulkKey(i) }));
  writeFileSync(join(dir, "del.json"), JSON.stringify(del));
  const r = await wranglerOk(kv("bulk", "delete", join(dir, "del.json"), "--force", ...nsArgs()), { timeoutMs: 120000 });
  assert.match(r.out, /Deleted 100% \(2,500 out of 2,500\)/);
  const keys = jsonIn((await wranglerOk(kv("key", "list", "--prefix", "bulk/", ...nsArgs()))).out);
  assert.deepEqual(keys, []); // at once at the writer
  if (CLUSTER) {
    await countAtReader(ns, "bulk/", 0);
    assert.deepEqual(jsonIn((await wranglerOk(kv("key", "list", "--prefix", "bulk/", ...nsArgs()), READ)).out), []);
  }
});

test("kv key delete", async () => {
  await wranglerOk(kv("key", "delete", "greeting", ...nsArgs()));
  const r = await wrangler(kv("key", "get", "greeting", ...nsArgs()));
  assertFailed(r); // at once at the writer
  if (CLUSTER) {
    await visibleAtReader(value("greeting"), null);
    const r2 = await wrangler(kv("key", "get", "greeting", ...nsArgs()), READ);
    assertFailed(r2);
    assert.match(r2.out, /Failed to fetch \S+\/values\/greeting - 404: Not Found/);
  }
});

test("error: a missing key", async () => {
  const r = await wrangler(kv("key", "get", "no-such-key", ...nsArgs()), READ);
  assertFailed(r);
  assert.match(r.out, /Failed to fetch \S+\/values\/no-such-key - 404: Not Found/);
});

test("error: a bad token", async () => {
  const r = await wrangler(kv("key", "list", ...nsArgs()), { ...READ, token: "not-the-token" });
  assertFailed(r);
  assert.match(r.out, /A request to the Cloudflare API \(\/accounts\/[^)]*\/keys\) failed\./);
  assert.match(r.out, /Authentication error \[code: 10000\]/);
  // wrangler then asks /user/tokens/verify about the token: served, no 7003.
  assert.doesNotMatch(r.out, /No route for the URI/);
  const g = await wrangler(kv("key", "get", "ttl", ...nsArgs()), { ...READ, token: "not-the-token" });
  assertFailed(g);
  assert.match(g.out, /- 401: Unauthorized/);
});

test("error: an invalid TTL and a past expiration", async () => {
  const r = await wrangler(kv("key", "put", "k", "v", "--ttl", "30", ...nsArgs()));
  assertFailed(r);
  assert.match(r.out, /put: 'Invalid expiration_ttl of 30\. Expiration TTL must be at least 60\.' \[code: 10033\]/);
  const e = await wrangler(kv("key", "put", "k", "v", "--expiration", "1000", ...nsArgs()));
  assertFailed(e);
  assert.match(e.out, /put: 'Invalid expiration of 1000\. Please specify integer greater than the current number of seconds since the UNIX epoch\.' \[code: 10033\]/);
});

test("error: an unknown namespace id", async () => {
  const r = await wrangler(kv("key", "list", "--namespace-id", "0".repeat(32), "--remote"), READ);
  assertFailed(r);
  assert.match(r.out, /list keys: 'namespace not found' \[code: 10013\]/);
});

test("error: a duplicate namespace title (created through the read node)", async () => {
  const r = await wrangler(kv("namespace", "create", `${title}-renamed`), READ);
  assertFailed(r);
  assert.match(r.out, /already exists/);
});

test("kv namespace delete", async () => {
  await wranglerOk(kv("namespace", "delete", "--namespace-id", ns, "--skip-confirmation"));
  await eventually("namespace delete at the read node", async () => assert.equal((await readRest("GET", `/${ns}`)).status, 404));
  const list = jsonIn((await wranglerOk(kv("namespace", "list"), READ)).out);
  assert.equal(list.find((n) => n.id === ns), undefined);
});
