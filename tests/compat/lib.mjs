// lib.mjs - what the three compatibility suites share: the node under test
// (started by run.sh, which exports EDGEKV_URL, EDGEKV_TOKEN and
// EDGEKV_ACCOUNT), a raw REST helper for setting up fixtures, and a bounded
// child-process runner. The suites themselves only use the real clients.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suites through tests/compat/run.sh`);
  return v;
}

export const URL_ = need("EDGEKV_URL"); // http://127.0.0.1:PORT
export const TOKEN = need("EDGEKV_TOKEN");
export const ACCOUNT = need("EDGEKV_ACCOUNT");
export const API = `${URL_}/client/v4`;
export const NAMESPACES = `${API}/accounts/${ACCOUNT}/storage/kv/namespaces`;

// A raw REST call; answers {status, body} with body parsed when JSON.
export async function rest(method, path, body, headers = {}) {
  const init = { method, headers: { Authorization: `Bearer ${TOKEN}`, ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    if (!(typeof body === "string" || body instanceof Uint8Array))
      init.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(`${NAMESPACES}${path}`, init);
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

export function scratchDir(name) {
  return mkdtempSync(join(process.env.EDGEKV_COMPAT_TMP || tmpdir(), `${name}-`));
}

// Runs a command to completion with a deadline; answers {code, stdout
// (Buffer), stderr (string), out (stdout+stderr as text)}. A command still
// running at the deadline is killed and reported as code null.
export function runProcess(cmd, args, { env, cwd, input, timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    const err = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err).toString("utf8");
      resolve({ code, stdout, stderr, out: stdout.toString("utf8") + stderr });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

// Strips ANSI colour codes (wrangler colours its errors).
export function plainText(s) {
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}
