// The D2C brand's eight acceptance stories (examples/d2c/scenarios/story-*.ndjson) through the
// official customerio-node TrackClient against a live Nudge on a virtual clock, each compared
// line for line with the story's expected timeline (story-*.expected.ndjson), the same file
// the simulator's test compares with. Per story and store: a fresh server whose clock starts
// at the scenario's first line, the brand's definitions applied to its store with the real
// `nudge apply`, then each line sent at its own moment (POST /v1/clock to the line's time,
// then the SDK call, without a timestamp: the server stamps it with its clock), the clock run
// on to well past the last line, and the timeline read back with GET /v1/timeline.
// Nothing waits by sleeping: POST /v1/clock answers once the server has done all that was due.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { useNudge, skipUnless } from './nudge-server.mjs';

const EXAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../examples/d2c');
const SCENARIOS = path.join(EXAMPLE, 'scenarios');
const DAY_MS = 86_400_000;
/** How long after its last line a story runs on: past every journey of the brand. */
const HORIZON_DAYS = 100;

function ndjson(file) {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

/** A scenario line's moment (`timestamp`, or `until` for an advance line). */
function moment(line) {
  return line.type === 'advance' ? line.until : line.timestamp;
}

/** `2026-03-02T10:02:00Z`, as the server prints times (milliseconds only when needed). */
function rfc3339(ms) {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** The scenario's message, sent through the TrackClient as the Track API takes it. */
async function send(nudge, line) {
  const { type, userId, anonymousId } = line;
  if (type === 'identify' && userId) {
    const attributes = { ...line.traits };
    // The Track API stitches the anonymous profile into the person given `anonymous_id`.
    if (anonymousId) attributes.anonymous_id = anonymousId;
    return nudge.track.identify(userId, attributes);
  }
  if (type === 'track' && userId) {
    return nudge.track.track(userId, { name: line.event, data: line.properties ?? {} });
  }
  if (type === 'track' && anonymousId) {
    return nudge.track.trackAnonymous(anonymousId, { name: line.event, data: line.properties ?? {} });
  }
  throw new Error(`no TrackClient call for scenario line ${JSON.stringify(line)}`);
}

/** `nudge apply` of the brand's definitions to the server's store, through the real binary. */
async function applyDefinitions(nudge) {
  const env = { ...process.env, NUDGE_DATA_DIR: nudge.dataDir, NUDGE_LOG: 'warn' };
  delete env.NUDGE_DATABASE_URL;
  if (nudge.databaseUrl) env.NUDGE_DATABASE_URL = nudge.databaseUrl;
  await promisify(execFile)(
    path.resolve(process.env.NUDGE_BIN),
    ['apply', '-f', path.join(EXAMPLE, 'definitions'), '--workspace', 'development'],
    { env, timeout: 60_000 },
  );
}

const stories = readdirSync(SCENARIOS)
  .filter((name) => /^story-.*\.ndjson$/.test(name) && !name.endsWith('.expected.ndjson'))
  .sort();

test('every story is replayed here', () => {
  assert.equal(stories.length, 8, stories.join(', '));
});

for (const store of ['sqlite', 'postgres']) {
  for (const story of stories) {
    const lines = ndjson(path.join(SCENARIOS, story));
    const expected = ndjson(path.join(SCENARIOS, story.replace('.ndjson', '.expected.ndjson')));

    describe(`${story} on a live server (${store})`, () => {
      const nudge = useNudge({ store, virtualClock: moment(lines[0]) });

      test('the timeline through the SDK equals the expected timeline', async (t) => {
        if (!skipUnless(t, nudge)) return;
        await applyDefinitions(nudge);
        // Settling at the first moment lets the server load the definitions before any event.
        assert.equal(await nudge.advanceClock(moment(lines[0])), rfc3339(Date.parse(moment(lines[0]))));

        for (const [index, line] of lines.entries()) {
          const now = await nudge.advanceClock(moment(line));
          assert.equal(now, rfc3339(Date.parse(moment(line))), `line ${index + 1}`);
          if (line.type !== 'advance') {
            assert.deepEqual(await send(nudge, line), {}, `line ${index + 1} was accepted`);
          }
        }
        await stampedAtTheVirtualClock(nudge, lines);

        const last = Date.parse(moment(lines.at(-1)));
        await nudge.advanceClock(rfc3339(last + HORIZON_DAYS * DAY_MS));
        const timeline = (await nudge.timeline()).filter((line) => !line.kind.startsWith('segment_'));
        assert.deepEqual(
          timeline,
          expected,
          `--- live:\n${timeline.map((l) => JSON.stringify(l)).join('\n')}\n--- expected:\n${expected
            .map((l) => JSON.stringify(l))
            .join('\n')}`,
        );
      });
    });
  }
}

/**
 * The Track API stamps an event sent without a timestamp with the server's clock: a known
 * person's first event is recorded at its scenario line's moment, not at the machine's time.
 * (Story 7's guest sends hers anonymously; the others check it.)
 */
async function stampedAtTheVirtualClock(nudge, lines) {
  const first = lines.find((line) => line.type === 'track' && line.userId);
  if (!first) return;
  const events = await nudge.activities(first.userId, `type=event&name=${encodeURIComponent(first.event)}`);
  const times = events.map((event) => event.timestamp);
  assert.ok(
    times.includes(Date.parse(first.timestamp) / 1000),
    `${first.event} recorded at ${times} (unix seconds), not at ${first.timestamp}`,
  );
}
