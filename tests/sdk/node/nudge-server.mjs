// Starts a live Nudge (the binary named by NUDGE_BIN) on a free port with a fresh data
// directory, and hands out the official customerio-node clients pointed at it. The SDK is used
// unchanged: only its base URL differs from Customer.io's. This module must not patch the SDK
// or wait by sleeping — readiness is the server's own "listening on" line.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TrackClient, APIClient } from 'customerio-node';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

function binary() {
  const bin = process.env.NUDGE_BIN;
  if (!bin) {
    throw new Error(
      'NUDGE_BIN is not set: point it at the nudge binary, e.g. ' +
        'NUDGE_BIN=$CARGO_TARGET_DIR/debug/nudge node --test (or run scripts/sdk-tests.sh <binary>)',
    );
  }
  return path.resolve(bin);
}

function tail(text) {
  return text.split('\n').slice(-30).join('\n');
}

function logTail(logPath) {
  try {
    return tail(readFileSync(logPath, 'utf8'));
  } catch {
    return '(no server log)';
  }
}

/**
 * Spawns `nudge serve` and resolves once it prints `listening on http://…`.
 * Rejects if the process exits first or the line does not come within START_TIMEOUT_MS.
 */
export async function startNudge() {
  const bin = binary();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'nudge-sdk-'));
  const logPath = path.join(dataDir, 'nudge.log');
  const logFd = openSync(logPath, 'w');
  const child = spawn(bin, ['serve'], {
    env: { ...process.env, NUDGE_DATA_DIR: dataDir, NUDGE_LISTEN: '127.0.0.1:0' },
    stdio: ['ignore', 'pipe', logFd],
  });
  closeSync(logFd);
  const exited = once(child, 'exit');
  exited.catch(() => {}); // a spawn failure is reported by the 'error' listener below

  const listening = new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nudge did not print "listening on" within ${START_TIMEOUT_MS} ms\n${logTail(logPath)}`));
    }, START_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${bin}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`nudge exited (code ${code}, signal ${signal}) before listening\n${logTail(logPath)}`));
    });
    // Keep reading stdout for the server's whole life so its pipe never fills.
    lines.on('line', (line) => {
      const match = /^listening on (https?:\/\/\S+)$/.exec(line.trim());
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });

  let baseUrl;
  let creds;
  try {
    baseUrl = await listening;
    creds = JSON.parse(await readFile(path.join(dataDir, 'credentials.json'), 'utf8'));
    for (const key of ['workspace_id', 'site_id', 'track_api_key', 'app_api_key']) {
      assert.ok(creds[key] !== undefined && creds[key] !== '', `credentials.json lacks ${key}`);
    }
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.kill('SIGKILL');
      await exited.catch(() => {});
    }
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }

  /** SIGTERM, then wait for exit (SIGKILL after STOP_TIMEOUT_MS). Keeps the data directory. */
  async function stop() {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    const [code, signal] = await exited;
    return { code, signal };
  }

  return { baseUrl, creds, dataDir, logPath, stop, child };
}

/**
 * One server per test file: registers before/after hooks and returns a context whose fields
 * are filled once the server is up. After the file's tests the server must exit 0 on SIGTERM
 * and have logged no ERROR line. NUDGE_KEEP_DATA=1 keeps each data directory (and nudge.log).
 */
export function useNudge() {
  const ctx = {};
  before(async () => {
    const server = await startNudge();
    Object.assign(ctx, server, clientsFor(server));
  });
  after(async () => {
    if (!ctx.stop) return;
    const keep = Boolean(process.env.NUDGE_KEEP_DATA);
    const { code, signal } = await ctx.stop();
    const log = readFileSync(ctx.logPath, 'utf8');
    if (keep) console.log(`# kept nudge data directory ${ctx.dataDir}`);
    else await rm(ctx.dataDir, { recursive: true, force: true });
    assert.equal(code, 0, `nudge did not shut down cleanly on SIGTERM (signal ${signal})\n${tail(log)}`);
    // A 5xx is a server bug whatever the test expected; its log line says why.
    const errors = log
      .replace(/\x1b\[[0-9;]*m/g, '')
      .split('\n')
      .filter((line) => /\sERROR\s/.test(line));
    assert.deepEqual(errors, [], 'the server logged errors during this file\'s tests');
  });
  return ctx;
}

/** SDK clients and a raw App API reader for one server. */
export function clientsFor({ baseUrl, creds }) {
  const trackUrl = `${baseUrl}/api/v1`;
  const apiUrl = `${baseUrl}/v1`;
  const track = new TrackClient(creds.site_id, creds.track_api_key, { url: trackUrl });
  const api = new APIClient(creds.app_api_key, { url: apiUrl });

  /** GET on the App API with plain fetch: `{status, body}`. */
  async function appGet(pathAndQuery) {
    const res = await fetch(`${baseUrl}${pathAndQuery}`, {
      headers: { Authorization: `Bearer ${creds.app_api_key}` },
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** The person as the App API shows it, or null on 404. */
  async function customer(id, idType = 'id') {
    const res = await appGet(`/v1/customers/${encodeURIComponent(id)}/attributes?id_type=${idType}`);
    if (res.status === 404) return null;
    assert.equal(res.status, 200, `attributes of ${idType} ${id}: ${JSON.stringify(res.body)}`);
    return res.body.customer;
  }

  /** The person's activities (newest first) for a query such as `type=event`. */
  async function activities(id, query = '') {
    const res = await appGet(`/v1/customers/${encodeURIComponent(id)}/activities?${query}`);
    assert.equal(res.status, 200, `activities of ${id}: ${JSON.stringify(res.body)}`);
    return res.body.activities;
  }

  return { trackUrl, apiUrl, track, api, appGet, customer, activities };
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A fresh ULID (what Customer.io wants as an event `id`). */
export function ulid(now = Date.now()) {
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  const random = [...randomBytes(16)].map((b) => CROCKFORD[b % 32]).join('');
  return time + random;
}

/** A unique suffix so names never collide between tests sharing a server. */
export function unique(prefix) {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
