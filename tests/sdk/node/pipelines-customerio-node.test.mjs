// customerio-node's PipelinesClient, unchanged, pointed at a live Nudge with its `url` option:
// one request per call (/v1/identify … /v1/alias) and `batch()` for /v1/batch, each answered
// 200 `{}`; strictMode's `X-Strict-Mode: 1` turns a bad message into a 400 whose body carries
// `code` and `message`, while the permissive default records it in /v1/rejected_messages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipelinesClient } from 'customerio-node';
import { useNudge, unique } from './nudge-server.mjs';

const nudge = useNudge();

function pipelines(options = {}) {
  return new PipelinesClient(nudge.creds.pipelines_write_key, { url: `${nudge.baseUrl}/v1`, ...options });
}

test('identify, track, page, screen, group and alias, one call each', async () => {
  const cdp = pipelines();
  const id = unique('cio');
  const anonymousId = unique('cio-anon');
  const company = unique('initech');
  assert.deepEqual(await cdp.track({ anonymousId, event: 'Landing Viewed' }), {});
  assert.deepEqual(
    await cdp.identify({ userId: id, traits: { email: `${id}@example.com`, plan: 'team', createdAt: '2023-11-14T22:13:20Z' } }),
    {},
  );
  assert.deepEqual(await cdp.alias({ previousId: anonymousId, userId: id }), {});
  assert.deepEqual(await cdp.track({ userId: id, event: 'Plan Upgraded', properties: { from: 'free', to: 'team' } }), {});
  assert.deepEqual(await cdp.page({ userId: id, name: 'Billing', properties: { url: 'https://app.example.com/billing' } }), {});
  assert.deepEqual(await cdp.screen({ userId: id, name: 'Settings', properties: { section: 'billing' } }), {});
  assert.deepEqual(
    await cdp.group({ userId: id, groupId: company, traits: { name: 'Initech', relationshipAttributes: { role: 'billing' } } }),
    {},
  );

  const customer = await nudge.customer(id);
  assert.equal(customer.attributes.plan, 'team');
  assert.equal(customer.attributes.created_at, 1_700_000_000);
  assert.deepEqual(customer.anonymous_ids, [anonymousId]);
  const events = (await nudge.activities(id, 'type=event')).map((a) => a.name).sort();
  assert.deepEqual(events, ['Landing Viewed', 'Plan Upgraded']);
  assert.equal((await nudge.activities(id, 'type=page'))[0].name, 'Billing');
  assert.equal((await nudge.activities(id, 'type=screen'))[0].name, 'Settings');
  const object = await nudge.appGet(`/v1/objects/1/${company}/attributes`);
  assert.equal(object.status, 200, JSON.stringify(object.body));
  assert.deepEqual(object.body.object.attributes, { name: 'Initech' });
  assert.deepEqual(object.body.object.relationships[0].relationship_attributes, { role: 'billing' });
});

test('batch() sends mixed types in one /v1/batch request', async () => {
  const cdp = pipelines();
  const id = unique('cio-batch');
  const result = await cdp.batch([
    { type: 'identify', userId: id, traits: { plan: 'batch' } },
    { type: 'track', userId: id, event: 'Imported', properties: { n: 1 } },
    { type: 'track', userId: id, event: 'Imported', properties: { n: 2 } },
    { type: 'page', userId: id, name: 'Docs' },
    { type: 'screen', userId: id, name: 'Docs Screen' },
  ]);
  assert.deepEqual(result, {});
  assert.equal((await nudge.customer(id)).attributes.plan, 'batch');
  const imported = await nudge.activities(id, 'type=event');
  assert.deepEqual(imported.map((a) => a.data.n).sort(), [1, 2]);
  assert.equal((await nudge.activities(id, 'type=page'))[0].name, 'Docs');
});

test('strictMode: a bad message is a 400 with code and message, and nothing is written', async () => {
  const strict = pipelines({ strictMode: true });
  const id = unique('cio-strict');
  await assert.rejects(
    strict.identify({ userId: id, traits: { email: 'not-an-email' } }),
    (err) => {
      assert.equal(err.statusCode, 400);
      const body = JSON.parse(err.body);
      assert.equal(body.code, 'invalid');
      assert.match(body.message, /traits\.email/);
      return true;
    },
  );
  await assert.rejects(
    strict.batch([
      { type: 'identify', userId: id, traits: { plan: 'never' } },
      { type: 'track', userId: id, event: 'Report Delivery Event', properties: { deliveryId: 'nope' } },
    ]),
    (err) => err.statusCode === 400 && /batch\[1\]\.properties\.deliveryId/.test(JSON.parse(err.body).message),
  );
  assert.equal(await nudge.customer(id), null, 'a refused strict batch writes nothing');
});

test('permissive (default): a bad message is answered 200 and listed as rejected', async () => {
  const cdp = pipelines();
  const id = unique('cio-permissive');
  assert.deepEqual(await cdp.track({ userId: id, event: 'x'.repeat(101) }), {});
  assert.equal(await nudge.customer(id), null);
  const res = await nudge.appGet('/v1/rejected_messages?limit=10');
  assert.equal(res.status, 200);
  const mine = res.body.rejected_messages.find((r) => r.message.userId === id);
  assert.ok(mine, JSON.stringify(res.body));
  assert.equal(mine.field, 'event');
  assert.match(mine.reason, /100 bytes/);
  assert.equal(mine.message.type, 'track');
  assert.equal(mine.message.context.library.name, 'customerio-node');
});
