// lib.mjs - what the three compatibility suites share: the target under test
// (started by run.sh, which exports EDGEKV_URL, EDGEKV_READ_URL, EDGEKV_TOKEN
// and EDGEKV_ACCOUNT), a raw REST helper for fixtures and for waiting, a
// bounded poll for cross-edge visibility, and a bounded child-process runner.
// The suites themselves only use the real clients.
//
// Against one node (run.sh's single mode) the write and the read URL are the
// same node. Against the local cluster (run.sh --cluster) writes go through
// edge1 (EDGEKV_URL) and cross-edge reads through edge2 (EDGEKV_READ_URL):
// a write is visible at edge1 when the call returns (read-your-writes, never
// waited for) and at edge2 within the propagation delay (polled, at most
// VISIBLE_WITHIN_MS).
//
// Over HTTPS (run.sh --https) both URLs are https:// URLs of the nodes' HTTPS
// port, whose certificate a private CA signed. Nothing here turns
// certificate checks off: Node.js (this process, the SDK, wrangler) trusts
// the CA through NODE_EXTRA_CA_CERTS, which run.sh sets to EDGEKV_CA, and
// workerd through the CA in its external service's trustedCertificates.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import workerdPkg from "workerd";

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suites through tests/compat/run.sh`);
  return v;
}

export const URL_ = need("EDGEKV_URL"); // http://127.0.0.1:PORT: writes (edge1)
export const READ_URL = process.env.EDGEKV_READ_URL || URL_; // cross-edge reads (edge2)
export const CLUSTER = READ_URL !== URL_;
export const HTTPS = URL_.startsWith("https:");
// The private CA's certificate (PEM file) in HTTPS mode: what NODE_EXTRA_CA_CERTS names.
export const CA_FILE = HTTPS ? need("EDGEKV_CA") : "";
// The name workerd checks the nodes' certificates against (their subjectAltName
// holds it next to 127.0.0.1, the address every client connects to).
export const TLS_HOST = process.env.EDGEKV_TLS_HOST || "localhost";
if (HTTPS && process.env.NODE_EXTRA_CA_CERTS !== CA_FILE)
  throw new Error("HTTPS mode: NODE_EXTRA_CA_CERTS must name EDGEKV_CA (run the suites through tests/compat/run.sh)");
export const TOKEN = need("EDGEKV_TOKEN");
export const ACCOUNT = need("EDGEKV_ACCOUNT");
export const API = `${URL_}/client/v4`;
export const READ_API = `${READ_URL}/client/v4`;
export const NAMESPACES = `${API}/accounts/${ACCOUNT}/storage/kv/namespaces`;
export const READ_NAMESPACES = `${READ_API}/accounts/${ACCOUNT}/storage/kv/namespaces`;

// How long the suites wait for a write to show at the other edge. On
// loopback it takes milliseconds (README "The cluster"), but these suites
// check that it arrives, not how fast: the deadline only ends a wait that
// would never succeed, so it is set far above any scheduling hiccup of a
// loaded 2-core CI machine.
export const VISIBLE_WITHIN_MS = 15000;

// A raw REST call at the write node; answers {status, body} with body
// parsed when JSON. readRest is the same at the read node.
export function rest(method, path, body, headers = {}) {
  return restAt(NAMESPACES, method, path, body, headers);
}
export function readRest(method, path, body, headers = {}) {
  return restAt(READ_NAMESPACES, method, path, body, headers);
}
async function restAt(base, method, path, body, headers = {}) {
  const init = { method, headers: { Authorization: `Bearer ${TOKEN}`, ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    if (!(typeof body === "string" || body instanceof Uint8Array))
      init.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(`${base}${path}`, init);
  const text = await r.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: r.status, body: parsed };
}

// Creates a namespace with a unique title; answers its id.
export async function createNamespace(prefix) {
  const title = `${prefix}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const r = await rest("POST", "", { title });
  if (r.status !== 200 || !r.body.success) throw new Error(`create namespace: ${JSON.stringify(r.body)}`);
  return r.body.result.id;
}

// Polls `check` (an async function that asserts, or throws) until it passes
// or VISIBLE_WITHIN_MS have passed; answers what it returned. On timeout it
// throws the last failure, prefixed with `what`. For reads at the read edge
// of writes made at the write edge; never used for read-your-writes.
export async function eventually(what, check, timeoutMs = VISIBLE_WITHIN_MS) {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() >= deadline) {
        e.message = `${what}: not seen within ${timeoutMs} ms: ${e.message}`;
        throw e;
      }
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

// Waits until GET <path> at the read node answers `want`: a string or bytes
// (the raw value), or null for 404 (deleted). `path` is below a namespace,
// e.g. `/${ns}/values/${encodeURIComponent(key)}`.
export function visibleAtReader(path, want) {
  return eventually(`GET ${path}`, async () => {
    const r = await fetch(`${READ_NAMESPACES}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    const got = Buffer.from(await r.arrayBuffer());
    if (want === null) {
      if (r.status !== 404) throw new Error(`status ${r.status}, want 404`);
      return;
    }
    if (r.status !== 200) throw new Error(`status ${r.status}: ${got}`);
    if (!got.equals(Buffer.from(want))) throw new Error(`value ${JSON.stringify(got.toString().slice(0, 80))}`);
  });
}

// Waits until the read node lists exactly `count` keys under `prefix` in
// namespace `ns` (following the cursor).
export function countAtReader(ns, prefix, count) {
  return eventually(`list ${prefix} in ${ns}`, async () => {
    let n = 0;
    let cursor = "";
    for (let guard = 0; guard < 1000; guard++) {
      const q = new URLSearchParams({ prefix, limit: "1000", ...(cursor ? { cursor } : {}) });
      const r = await readRest("GET", `/${ns}/keys?${q}`);
      if (r.status !== 200) throw new Error(`status ${r.status}: ${JSON.stringify(r.body)}`);
      n += r.body.result.length;
      cursor = r.body.result_info?.cursor || "";
      if (!cursor) break;
    }
    if (n !== count) throw new Error(`${n} keys, want ${count}`);
  });
}

// Every child process the suites start goes through spawnTracked: it leads
// its own process group (detached), so stopping the group also stops what
// it started (wrangler's bin shim runs the real CLI as a second process,
// which survived a kill of the shim alone). node --test ends a file that
// passed its deadline with SIGTERM, which by default exits at once and runs
// no "exit" handler: the handler below kills every group still running
// first, so no wrangler, workerd or node is left behind.
const tracked = new Set();
export function spawnTracked(cmd, args, opts) {
  const child = spawn(cmd, args, { ...opts, detached: true });
  tracked.add(child);
  child.on("exit", () => tracked.delete(child));
  return child;
}
// Sends `signal` to the child's whole process group.
export function killGroup(child, signal = "SIGKILL") {
  try {
    process.kill(-child.pid, signal);
  } catch {} // already gone
}
process.on("exit", () => {
  for (const c of tracked) killGroup(c);
});
process.on("SIGTERM", () => process.exit(143)); // runs the "exit" handlers

export function scratchDir(name) {
  return mkdtempSync(join(process.env.EDGEKV_COMPAT_TMP || tmpdir(), `${name}-`));
}

// Runs a command to completion with a deadline; answers {code, stdout
// (Buffer), stderr (string), out (stdout+stderr as text), signal,
// timedOut}. A command still running at the deadline is killed: code null,
// timedOut true (its whole process group is killed); one ended by a signal
// has code null and its signal.
export function runProcess(cmd, args, { env, cwd, input, timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(cmd, args, { env, cwd, stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    const err = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeoutMs);
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err).toString("utf8");
      resolve({ code, stdout, stderr, out: stdout.toString("utf8") + stderr, signal, timedOut });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

// Strips ANSI colour codes (wrangler colours its errors).
export function plainText(s) {
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}

// Starts `workerd serve DIR/config.capnp` on the free loopback port its
// config's socket "http" asks for (address 127.0.0.1:0); its control fd
// reports the port. Answers {child, url}. The native binary is run
// directly: the npm package's JS launcher would not pass fd 3 on. `stderr`
// is "inherit" or "pipe" (then child.stderr is readable). The caller stops
// it (child.kill), also on exit.
export const WORKERD = workerdPkg.default; // the native binary's path
export const { compatibilityDate } = workerdPkg; // the newest date this workerd supports
export function startWorkerd(dir, { stderr = "inherit" } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(WORKERD, ["serve", join(dir, "config.capnp"), "--control-fd=3"], {
      cwd: dir,
      stdio: ["ignore", "inherit", stderr, "pipe"],
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("workerd did not listen within 30 s"));
    }, 30000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`workerd exited early (${code})`));
    });
    createInterface({ input: child.stdio[3] }).on("line", (line) => {
      const ev = JSON.parse(line);
      if (ev.event === "listen" && ev.socket === "http") {
        clearTimeout(timer);
        resolve({ child, url: `http://127.0.0.1:${ev.port}` });
      }
    });
  });
}
