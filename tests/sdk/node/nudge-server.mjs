// Starts a live Nudge (the binary named by NUDGE_BIN) on a free port with a fresh data
// directory, and hands out the official customerio-node clients pointed at it. The SDK is used
// unchanged: only its base URL differs from Customer.io's. This module must not patch the SDK
// or wait by sleeping — readiness is the server's own "listening on" line.
//
// Stores: by default the server runs on SQLite in its data directory. `{ store: 'postgres' }`
// creates a fresh database on 127.0.0.1:5432 (trust auth, user postgres) with `psql`, points
// NUDGE_DATABASE_URL at it and drops it once the server has stopped. When no PostgreSQL
// answers, useNudge({ store: 'postgres' }) fails if NUDGE_REQUIRE_POSTGRES is set, and
// otherwise marks the context `skipped` (tests call `skipUnless(t, ctx)`), loudly.

import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
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

const PG_HOST = '127.0.0.1';
const PG_PORT = '5432';
const PG_USER = 'postgres';
const run = promisify(execFile);

/** Runs one SQL command with psql against the `postgres` database; rejects with psql's stderr. */
async function psql(sql) {
  try {
    const { stdout } = await run(
      'psql',
      ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', PG_HOST, '-p', PG_PORT, '-U', PG_USER, '-d', 'postgres', '-c', sql],
      { env: { ...process.env, PGCONNECT_TIMEOUT: '5' }, timeout: 30_000 },
    );
    return stdout.trim();
  } catch (err) {
    const why = err.code === 'ENOENT' ? 'the psql client is not installed' : (err.stderr || err.message).trim();
    throw new Error(`psql -c "${sql}" failed: ${why}`);
  }
}

let postgresProbe;
/** Whether a PostgreSQL answers on 127.0.0.1:5432: `{ ok: true }` or `{ ok: false, reason }`. Probed once. */
export function postgresStatus() {
  postgresProbe ??= psql('SELECT 1').then(
    (out) => (out === '1' ? { ok: true } : { ok: false, reason: `SELECT 1 answered ${JSON.stringify(out)}` }),
    (err) => ({ ok: false, reason: err.message }),
  );
  return postgresProbe;
}

/** A fresh, empty database: `{ name, url, drop() }`. */
async function createDatabase() {
  const name = `nudge_sdk_${randomBytes(6).toString('hex')}`;
  await psql(`CREATE DATABASE ${name}`);
  let dropped = false;
  return {
    name,
    url: `postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/${name}`,
    async drop() {
      if (dropped) return;
      dropped = true;
      await psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/**
 * Spawns `nudge serve` and resolves once it prints `listening on http://…`.
 * Rejects if the process exits first or the line does not come within START_TIMEOUT_MS.
 * `store`: undefined (the server's default, SQLite in the data directory, whatever the caller's
 * environment says), 'sqlite' (SQLite even if NUDGE_DATABASE_URL is set) or 'postgres' (a fresh
 * database, dropped by `stop()` once the server has exited unless NUDGE_KEEP_DATA is set).
 * `virtualClock`: an RFC 3339 time; the server then runs on a virtual clock starting there
 * (`--virtual-clock`), moved only by `POST /v1/clock` (see `advanceClock`).
 */
export async function startNudge({ store, virtualClock } = {}) {
  const bin = binary();
  if (store !== undefined && store !== 'sqlite' && store !== 'postgres') {
    throw new Error(`unknown store '${store}' (sqlite or postgres)`);
  }
  const database = store === 'postgres' ? await createDatabase() : null;
  const env = { ...process.env, NUDGE_LISTEN: '127.0.0.1:0' };
  if (store === 'sqlite') delete env.NUDGE_DATABASE_URL;
  if (database) env.NUDGE_DATABASE_URL = database.url;
  let dataDir;
  try {
    dataDir = await mkdtemp(path.join(tmpdir(), 'nudge-sdk-'));
  } catch (err) {
    await database?.drop();
    throw err;
  }
  env.NUDGE_DATA_DIR = dataDir;
  const logPath = path.join(dataDir, 'nudge.log');
  const logFd = openSync(logPath, 'w');
  delete env.NUDGE_VIRTUAL_CLOCK;
  const serveArgs = virtualClock ? ['serve', '--virtual-clock', virtualClock] : ['serve'];
  const child = spawn(bin, serveArgs, {
    env,
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
    await database?.drop().catch(() => {});
    throw err;
  }

  /**
   * SIGTERM, then wait for exit (SIGKILL after STOP_TIMEOUT_MS). Keeps the data directory; on
   * PostgreSQL, then drops the database (kept, and named, when NUDGE_KEEP_DATA is set).
   */
  async function stop() {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    const [code, signal] = await exited;
    if (database) {
      if (process.env.NUDGE_KEEP_DATA) console.log(`# kept PostgreSQL database ${database.name}`);
      else await database.drop();
    }
    return { code, signal };
  }

  return {
    baseUrl,
    creds,
    dataDir,
    logPath,
    stop,
    child,
    store: store ?? 'default',
    database: database?.name,
    databaseUrl: env.NUDGE_DATABASE_URL, // what the server runs on (unset: SQLite in dataDir)
  };
}

/**
 * One server per test file (or per describe block, when called inside one): registers
 * before/after hooks and returns a context whose fields are filled once the server is up.
 * After the tests the server must exit 0 on SIGTERM and have logged no ERROR line.
 * NUDGE_KEEP_DATA=1 keeps each data directory (and nudge.log) and PostgreSQL database.
 * `{ store: 'postgres' }` without a reachable PostgreSQL: fails under NUDGE_REQUIRE_POSTGRES,
 * otherwise sets `ctx.skipped` to the reason; see `skipUnless`. `{ virtualClock }`: see
 * `startNudge`.
 */
export function useNudge({ store, virtualClock } = {}) {
  const ctx = {};
  before(async () => {
    if (store === 'postgres') {
      const pg = await postgresStatus();
      if (!pg.ok) {
        const reason = `no PostgreSQL on ${PG_HOST}:${PG_PORT} (${pg.reason})`;
        if (process.env.NUDGE_REQUIRE_POSTGRES) {
          throw new Error(`NUDGE_REQUIRE_POSTGRES is set but there is ${reason}`);
        }
        ctx.skipped = `SKIPPED ON POSTGRES: ${reason}; set NUDGE_REQUIRE_POSTGRES=1 to make this a failure`;
        console.log(`# ${'!'.repeat(20)} ${ctx.skipped} ${'!'.repeat(20)}`);
        return;
      }
    }
    const server = await startNudge({ store, virtualClock });
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

/**
 * In a test on a `useNudge` context: true when the server runs; otherwise skips the test with
 * the context's reason (`t.skip`) and returns false, so the test returns at once.
 */
export function skipUnless(t, ctx) {
  if (!ctx.skipped) return true;
  t.skip(ctx.skipped);
  return false;
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

  /** POST on the App API with plain fetch and a JSON body: `{status, body}`. */
  async function appPost(pathAndQuery, payload) {
    const res = await fetch(`${baseUrl}${pathAndQuery}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${creds.app_api_key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(payload),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /**
   * On a server started with `virtualClock`: moves its clock to `to` (RFC 3339), which
   * answers once the server has done everything due up to then.
   */
  async function advanceClock(to) {
    const res = await appPost('/v1/clock', { advance_to: to });
    assert.equal(res.status, 200, `advancing the clock to ${to}: ${JSON.stringify(res.body)}`);
    return res.body.now;
  }

  /** The journey timeline (`GET /v1/timeline`), every page. */
  async function timeline() {
    const lines = [];
    let start = '';
    do {
      const res = await appGet(`/v1/timeline?limit=100&start=${encodeURIComponent(start)}`);
      assert.equal(res.status, 200, `timeline: ${JSON.stringify(res.body)}`);
      lines.push(...res.body.timeline);
      start = res.body.next;
    } while (start);
    return lines;
  }

  return { trackUrl, apiUrl, track, api, appGet, appPost, advanceClock, timeline, customer, activities };
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
